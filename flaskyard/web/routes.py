"""Serve ``index.html`` for ``/`` and unknown non-API paths, hashed assets with long caching."""

from __future__ import annotations

from pathlib import Path

from apiflask import APIBlueprint
from flask import Response, send_from_directory
from werkzeug.routing import PathConverter

from flaskyard.settings import current_settings

bp = APIBlueprint("web", __name__, enable_openapi=False)
NOTICE_PAGE = Path(__file__).with_name("notice.html")
DEFAULT_FRONTEND_DIR = Path(__file__).with_name("dist")
ASSET_MAX_AGE = 365 * 24 * 3600
#: The SPA's development-only page: where the mailbox is off (always in production) the page
#: still renders and says so, but its status is 404, as for a page that is not there.
DEV_MAIL_PAGE = "dev/mail"


def _frontend_dir() -> Path:
    return current_settings().FRONTEND_DIR or DEFAULT_FRONTEND_DIR


def _index() -> Response:
    index = _frontend_dir() / "index.html"
    if not index.is_file():
        response = Response(NOTICE_PAGE.read_bytes(), mimetype="text/html")
    else:
        response = send_from_directory(_frontend_dir(), "index.html", max_age=0)
    # The page names the current hashed assets, so it must be revalidated every time.
    response.headers["Cache-Control"] = "no-cache"
    return response


@bp.get("/assets/<path:filename>")
def asset(filename: str) -> Response:
    """A content-hashed build asset, cacheable for a year."""
    response = send_from_directory(_frontend_dir() / "assets", filename, max_age=ASSET_MAX_AGE)
    response.headers["Cache-Control"] = f"public, max-age={ASSET_MAX_AGE}, immutable"
    return response


class ClientPathConverter(PathConverter):
    """A path the SPA may own: never under ``api/`` or ``admin/rq/`` (the job dashboard).

    Keeping those out of the catch-all means an unknown API path is a 404 for every method,
    while a known API path with the wrong method is still a 405, and the dashboard's own pages
    (or its 404 when it is not mounted) are never hidden behind the SPA. Other ``admin/`` paths
    such as ``admin/users`` are the SPA's, so a reload keeps them.
    """

    regex = r"(?!(?:api|admin/rq)(?:/|$))[^/].*?"


@bp.get("/")
@bp.get("/<client_path:path>")
def spa(path: str = "") -> Response:
    """The SPA's entry page, so client-side routes survive a reload."""
    top_level = _frontend_dir() / path
    if path and "/" not in path and path != "index.html" and top_level.is_file():
        return send_from_directory(_frontend_dir(), path, max_age=3600)
    response = _index()
    if path.rstrip("/") == DEV_MAIL_PAGE and not current_settings().dev_mailbox:
        response.status_code = 404
    return response


def static_file(filename: str) -> Response:
    """Flask's ``static`` endpoint (rq-dashboard links its favicon through it)."""
    return send_from_directory(_frontend_dir(), filename, max_age=3600)
