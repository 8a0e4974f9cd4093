"""Security headers on every response (Flask-Talisman) and an opt-in CORS allow-list."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from apiflask import APIFlask, abort
from flask import Flask, Response, current_app, request, send_from_directory
from flask_cors import CORS
from flask_talisman import Talisman
from swagger_ui_bundle import swagger_ui_path

from flaskyard.settings import get_settings


class _SteadyTalisman(Talisman):  # type: ignore[misc]  # flask-talisman ships no types
    """Talisman with its headers worked out once per scheme instead of on every request.

    Talisman merges its options four times and re-renders every policy per request; on
    ``/healthz`` that cost as much as the rest of the request. Here no view sets its own
    options, no nonce is asked for and HTTPS is not forced, so the headers only depend on
    whether the request came over HTTPS (HSTS). Anything else falls back to Talisman's way.
    """

    def init_app(self, app: Flask, **kwargs: Any) -> None:
        super().init_app(app, **kwargs)
        self._steady = not self.force_https and not self.content_security_policy_nonce_in
        self._by_scheme: dict[bool, list[tuple[str, str]]] = {}

    def _force_https(self) -> Any:
        return None if self._steady else super()._force_https()

    def _make_nonce(self) -> None:
        if not self._steady:
            super()._make_nonce()

    def _set_response_headers(self, response: Response) -> Response:
        view = current_app.view_functions.get(request.endpoint or "")
        if not self._steady or hasattr(view, "talisman_view_options"):
            return super()._set_response_headers(response)  # type: ignore[no-any-return]
        secure = request.is_secure or request.headers.get("X-Forwarded-Proto") == "https"
        headers = self._by_scheme.get(secure)
        if headers is None:
            probe = Response()
            probe.headers.clear()
            super()._set_response_headers(probe)
            headers = self._by_scheme.setdefault(secure, list(probe.headers.items()))
        for name, value in headers:
            response.headers[name] = value
        return response


talisman = _SteadyTalisman()

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
