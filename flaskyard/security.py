"""Security headers on every response (Flask-Talisman) and an opt-in CORS allow-list."""

from __future__ import annotations

from pathlib import Path

from apiflask import abort
from flask import Flask, Response, request, send_from_directory
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
#: The API docs and rq-dashboard pages carry inline scripts and styles; only they get this.
INLINE_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)
INLINE_CSP_PATHS = ("/api/docs", "/admin/rq/")
#: Stored files are served as they are: never a page (no scripts, no plugins, and sandboxed
#: if a browser opens one anyway).
FILE_CSP = "default-src 'none'; sandbox"
FILE_ENDPOINTS = frozenset({"uploads.download"})
DOCS_ASSETS = frozenset(
    {
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-ui-standalone-preset.js",
        "favicon-32x32.png",
    }
)


def _path_csp(response: Response) -> Response:
    if request.endpoint in FILE_ENDPOINTS:
        response.headers["Content-Security-Policy"] = FILE_CSP
    elif request.path == "/api/docs" or request.path.startswith(INLINE_CSP_PATHS[1]):
        response.headers["Content-Security-Policy"] = INLINE_CSP
    return response


def _docs_asset(filename: str) -> Response:
    if filename not in DOCS_ASSETS:
        abort(404)
    return send_from_directory(Path(swagger_ui_path), filename, max_age=86400)


def init_app(app: Flask) -> None:
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
    app.add_url_rule("/api/docs/assets/<path:filename>", "docs_asset", _docs_asset)
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
