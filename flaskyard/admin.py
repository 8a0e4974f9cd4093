"""rq-dashboard at ``/admin/rq/``, behind the app's own admin role.

A request gets in with an admin's Bearer token, or with the short session cookie that
``POST /api/v1/auth/dashboard-session`` gives an admin so a browser can open the pages.
The cookie belongs to the login that asked for it: it ends when that login signs out, when
every login ends (password reset, sign-out everywhere, deactivation), and when the user's
roles change (a demotion; promoting them again does not bring it back).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import rq_dashboard
from apiflask import APIBlueprint, APIFlask, abort
from flask import Flask, Request, Response, make_response, request, session
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin
from flask_jwt_extended import get_current_user, get_jwt, verify_jwt_in_request

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

session_bp = APIBlueprint("dashboard_session", __name__, url_prefix="/api/v1/auth", tag="Auth")


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


def init_app(app: APIFlask) -> None:
    """Mount the dashboard (when Redis is configured) and the session endpoint."""
    app.session_interface = DashboardSessionInterface()
    app.register_blueprint(session_bp)
    redis_url = get_settings(app).REDIS_URL
    if not redis_url:
        return
    app.config["RQ_DASHBOARD_REDIS_URL"] = redis_url  # rq-dashboard's own key
    rq_dashboard.web.setup_rq_connection(app)
    rq_dashboard.blueprint.enable_openapi = False  # a plain Flask blueprint: not our API
    guards = rq_dashboard.blueprint.before_request_funcs.get(None, [])
    if _require_admin not in guards:  # the blueprint is module-global; guard it once
        rq_dashboard.blueprint.before_request(_require_admin)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=URL_PREFIX)
