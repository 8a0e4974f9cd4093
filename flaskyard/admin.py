"""rq-dashboard at ``/admin/rq/``, behind the app's own admin role.

A request gets in with an admin's Bearer token, or with the short session cookie that
``POST /api/v1/auth/dashboard-session`` gives an admin so a browser can open the pages.
The cookie belongs to the login that asked for it: it ends when that login signs out, when
every login ends (password reset, sign-out everywhere, deactivation), and when the user's
roles change (a demotion; promoting them again does not bring it back).

rq-dashboard (and arrow, which it brings) is imported on the first request under
``/admin/rq/``, not when the app is built: a web worker that never serves the dashboard does
not carry it. Its blueprint runs in a small Flask app of its own, behind this app's admin
check, headers and error pages.
"""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from apiflask import APIBlueprint, APIFlask, abort
from flask import (
    Flask,
    Request,
    Response,
    current_app,
    make_response,
    redirect,
    request,
    session,
)
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_jwt_extended import get_current_user, get_jwt, verify_jwt_in_request
from werkzeug.routing import RequestRedirect
from werkzeug.wrappers import Response as BaseResponse

from flaskyard.auth.revocation import get_store
from flaskyard.auth.tokens import FAMILY_CLAIM, FAMILY_PREFIX
from flaskyard.core.auth import Principal, admin_required, current_user
from flaskyard.extensions import db
from flaskyard.settings import get_settings
from flaskyard.users.models import User

URL_PREFIX = "/admin/rq"
SESSION_KEY = "dashboard_user"
#: The login (token family) and token version the session was opened with: signing that
#: login out, or anything that ends every login (password reset, deactivation), ends it too.
LOGIN_KEY = "dashboard_login"
VERSION_KEY = "dashboard_version"
#: The roles version it was opened under: a demotion ends it, and a promotion after that
#: does not bring it back.
ROLES_KEY = "dashboard_roles"
SESSION_LIFETIME = timedelta(hours=1)

#: Where the app keeps the Flask app that runs rq-dashboard, once the first request built it.
HOST_KEY = "flaskyard.dashboard_host"
_HOST_LOCK = threading.Lock()

session_bp = APIBlueprint("dashboard_session", __name__, url_prefix="/api/v1/auth", tag="Auth")
#: The dashboard's URLs in this app: everything under the prefix goes to rq-dashboard.
mount_bp = APIBlueprint("dashboard", __name__, url_prefix=URL_PREFIX, enable_openapi=False)


@session_bp.post("/dashboard-session")
@session_bp.doc(
    summary="Open the job dashboard in this browser (admins)",
    description="Sets a one-hour HttpOnly session cookie accepted only under /admin/rq/.",
    security="BearerAuth",
    responses=[204, 401, 403],
)
@admin_required
def open_session() -> Any:
    """Give this browser an admin session for the dashboard."""
    session.clear()
    user = current_user()
    session[SESSION_KEY] = str(user.id)
    session[LOGIN_KEY] = str(get_jwt()[FAMILY_CLAIM])
    session[VERSION_KEY] = user.token_version
    session[ROLES_KEY] = user.roles_version
    session.permanent = True
    return make_response("", 204)


def _session_user() -> Principal | None:
    raw, login = session.get(SESSION_KEY), session.get(LOGIN_KEY)
    if not raw or not login:
        return None
    try:
        user = db.session.get(User, uuid.UUID(str(raw)))
    except ValueError:
        return None
    if user is None or user.token_version != session.get(VERSION_KEY):
        return None
    if user.roles_version != session.get(ROLES_KEY):
        return None
    if get_store().any_revoked(FAMILY_PREFIX + str(login)):
        return None
    return user


@mount_bp.before_request
def _require_admin() -> None:
    if request.headers.get("Authorization"):
        verify_jwt_in_request(locations=["headers"])
        user: Principal | None = get_current_user()
    else:
        user = _session_user()
    if user is None or not user.active:
        abort(401, detail="Sign in as an admin to see the job dashboard.")
    if not user.has_role("admin"):
        abort(403, detail="The job dashboard is for admins.")


class DashboardSessionInterface(SecureCookieSessionInterface):
    """Cookie sessions only where the dashboard needs one; the token API never pays for them.

    Opening a signed cookie session costs about 0.15 ms a request (bench/), and nothing
    outside the dashboard reads ``session``.
    """

    paths = (URL_PREFIX + "/", "/api/v1/auth/dashboard-session")

    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if not request.path.startswith(self.paths):
            return self.null_session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if isinstance(session, self.null_session_class):
            return
        super().save_session(app, session, response)

    def get_cookie_samesite(self, app: Flask) -> str:
        return "Strict"

    def get_cookie_httponly(self, app: Flask) -> bool:
        return True

    def get_cookie_secure(self, app: Flask) -> bool:
        return get_settings(app).production

    def get_expiration_time(self, app: Flask, session: SessionMixin) -> datetime | None:
        return datetime.now(UTC) + SESSION_LIFETIME if session.permanent else None


def _build_host(redis_url: str) -> Flask:
    import rq_dashboard  # import cost: ~2 MB a process, paid by the first dashboard request

    host = Flask(__name__, static_folder=None)
    # Its errors surface in the app that called it, which logs them and answers problem+json.
    host.config.update(RQ_DASHBOARD_REDIS_URL=redis_url, PROPAGATE_EXCEPTIONS=True)
    rq_dashboard.web.setup_rq_connection(host)
    host.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)
    # rq-dashboard links its favicon through ``static``, which the calling app serves.
    host.add_url_rule("/static/<path:filename>", endpoint="static", build_only=True)
    return host


def dashboard_host(app: Flask) -> Flask:
    """The Flask app running rq-dashboard for ``app``; built (and imported) on first use."""
    host = app.extensions.get(HOST_KEY)
    if host is None:
        with _HOST_LOCK:
            host = app.extensions.get(HOST_KEY)
            if host is None:
                redis_url = get_settings(app).REDIS_URL
                if not redis_url:
                    raise RuntimeError("The job dashboard needs REDIS_URL.")
                host = app.extensions[HOST_KEY] = _build_host(redis_url)
    return host


@mount_bp.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@mount_bp.route("/<path:path>", methods=["GET", "POST"])
def dashboard(path: str) -> BaseResponse:
    """Hand the request to rq-dashboard once ``_require_admin`` let it through."""
    host = dashboard_host(current_app)
    try:
        # Unknown pages and methods are this app's 404/405 problems, as anywhere else.
        host.url_map.bind_to_environ(request.environ).match()
    except RequestRedirect as exc:
        return redirect(exc.new_url, exc.code)
    return Response.from_app(host, request.environ)


def init_app(app: APIFlask) -> None:
    """Mount the dashboard (when Redis is configured) and the session endpoint."""
    app.session_interface = DashboardSessionInterface()
    app.register_blueprint(session_bp)
    if not get_settings(app).REDIS_URL:
        return
    app.register_blueprint(mount_bp)
