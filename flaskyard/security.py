"""Security headers on every response (Flask-Talisman) and an opt-in CORS allow-list."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

from apiflask import APIFlask, abort
from flask import Response, request, send_from_directory
from flask_cors import CORS
from flask_talisman import Talisman
from swagger_ui_bundle import swagger_ui_path

from flaskyard.settings import get_settings

talisman = Talisman()

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": ["'self'", "data:"],
    "connect-src": "'self'",
    "font-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'none'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
}
#: The API docs (Swagger UI) carry inline scripts and styles; only they get this.
INLINE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
#: Stored files are served as they are: never a page (no scripts, no plugins, and sandboxed
#: if a browser opens one anyway).
FILE_CSP = "default-src 'none'; sandbox"
FILE_ENDPOINTS = frozenset({"uploads.download"})
DOCS_PATH = "/api/docs"
DASHBOARD_PREFIX = "/admin/rq/"
#: rq-dashboard's pages need exactly three things beyond the app's policy: their one inline
#: <script> (allowed by its hash, added per response), eval (underscore's ``_.template``
#: compiles the table rows with ``new Function``), and inline ``style=""`` attributes.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-eval'{hashes}; style-src 'self'; "
    "style-src-attr 'unsafe-inline'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)
#: Inline scripts that run (``<script>`` without ``src`` and with no or a JavaScript type).
_INLINE_SCRIPT = re.compile(
    r"<script(?![^>]*\bsrc=)(?![^>]*\btype=\"(?!text/javascript\")[^\"]*\")[^>]*>(.*?)</script>",
    re.S | re.I,
)
DOCS_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
    }
)


def _script_hashes(html: str) -> str:
    digests = (
        base64.b64encode(hashlib.sha256(body.encode()).digest()).decode()
        for body in _INLINE_SCRIPT.findall(html)
    )
    return "".join(f" 'sha256-{digest}'" for digest in dict.fromkeys(digests))


def _path_csp(response: Response) -> Response:
    if request.endpoint in FILE_ENDPOINTS:
        response.headers["Content-Security-Policy"] = FILE_CSP
    elif request.path == DOCS_PATH:
        response.headers["Content-Security-Policy"] = INLINE_CSP
    elif request.path.startswith(DASHBOARD_PREFIX):
        hashes = ""
        if response.mimetype == "text/html" and not response.direct_passthrough:
            hashes = _script_hashes(response.get_data(as_text=True))
        response.headers["Content-Security-Policy"] = DASHBOARD_CSP.format(hashes=hashes)
    return response


def _docs_asset(filename: str) -> Response:
    if filename not in DOCS_ASSETS:
        abort(404)
    return send_from_directory(Path(swagger_ui_path), filename, max_age=86400)


def init_app(app: APIFlask) -> None:
    """Apply the headers; HSTS only in production (it would pin HTTPS on a laptop's localhost)."""
    app.after_request(_path_csp)  # registered first, so it runs after Talisman's hook
    settings = get_settings(app)
    production = settings.production
    talisman.init_app(
        app,
        force_https=False,  # TLS ends at the proxy; redirects there, not here
        strict_transport_security=production,
        strict_transport_security_max_age=31_536_000,
        content_security_policy=CSP,
        referrer_policy="strict-origin-when-cross-origin",
        frame_options="DENY",
        session_cookie_secure=production,
        permissions_policy={"geolocation": "()", "camera": "()", "microphone": "()"},
    )
    # Swagger UI's own files: served, but no part of the API the document describes.
    app.add_url_rule(
        "/api/docs/assets/<path:filename>", "docs_asset", app.doc(hide=True)(_docs_asset)
    )
    app.config.update(
        SWAGGER_UI_CSS="/api/docs/assets/swagger-ui.css",
        SWAGGER_UI_BUNDLE_JS="/api/docs/assets/swagger-ui-bundle.js",
        SWAGGER_UI_STANDALONE_PRESET_JS="/api/docs/assets/swagger-ui-standalone-preset.js",
    )
    if settings.cors_origins:
        CORS(
            app,
            resources={r"/api/*": {"origins": settings.cors_origins}},
            expose_headers=["Location"],
        )
