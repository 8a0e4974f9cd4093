"""rq-dashboard at /admin/rq/: admins only, by Bearer token or the short dashboard session."""

from __future__ import annotations

import base64
import hashlib
import uuid
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import sqlalchemy as sa
from apiflask import APIFlask
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from redis import Redis

from flaskyard.auth import mails
from flaskyard.extensions import db
from flaskyard.users.models import Role, User
from tests.support.api import problem
from tests.support.apps import built_app
from tests.support.backends import TWO_BACKENDS
from tests.support.fixtures import Accounts, _isolated_redis, accounts, jobs_redis_url, redis
from tests.support.jobs import start_job

__all__ = ["_isolated_redis", "accounts", "jobs_redis_url", "redis"]
#: Role checks read users from the database; two backends are enough for that.
pytestmark = TWO_BACKENDS

DASHBOARD = "/admin/rq/"
#: One of the dashboard's JSON views.
QUEUES = "/admin/rq/0/data/queues.json"
SESSION = "/api/v1/auth/dashboard-session"


def _csp(response: Any) -> dict[str, str]:
    policy = response.headers["Content-Security-Policy"]
    return {part.split()[0]: part.strip() for part in policy.split(";") if part.strip()}


def test_bearer_tokens(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    start_job(client, accounts.alice, seconds=0, steps=1)
    problem(client.get(DASHBOARD), 401)
    problem(client.get(DASHBOARD, headers=accounts.alice), 403)
    problem(client.get(DASHBOARD, headers={"Authorization": "Bearer not.a.token"}), 401)
    for path in (QUEUES, f"{DASHBOARD}0/view/workers", f"{DASHBOARD}static/css/main.css"):
        problem(client.get(path), 401)
        problem(client.get(path, headers=accounts.alice), 403)
    data = client.get(QUEUES, headers=accounts.admin)
    assert data.status_code == 200, data.get_data(as_text=True)[:300]
    queues = {queue["name"]: queue["count"] for queue in data.get_json()["queues"]}
    assert queues["default"] == 1
    css = client.get(f"{DASHBOARD}static/css/main.css", headers=accounts.admin)
    assert css.status_code == 200
    css.close()


def test_the_dashboard_page_opens_for_an_admin(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    page = client.get(DASHBOARD, headers=accounts.admin)
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    assert "RQ dashboard" in page.get_data(as_text=True)
    assert client.post(SESSION, headers=accounts.admin).status_code == 204
    assert client.get(f"{DASHBOARD}0/view/workers").status_code == 200


def _inline_script_hashes(html: str) -> set[str]:
    """The CSP hashes of the page's inline JavaScript, found with the standard HTML parser."""

    class Scripts(HTMLParser):
        def __init__(self) -> None:
            super().__init__(convert_charrefs=False)
            self.bodies: list[str] = []
            self._open: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if tag == "script" and "src" not in found:
                if found.get("type", "text/javascript") == "text/javascript":
                    self._open = []

        def handle_data(self, data: str) -> None:
            if self._open is not None:
                self._open.append(data)

        def handle_endtag(self, tag: str) -> None:
            if tag == "script" and self._open is not None:
                self.bodies.append("".join(self._open))
                self._open = None

    parser = Scripts()
    parser.feed(html)
    return {
        "'sha256-" + base64.b64encode(hashlib.sha256(body.encode()).digest()).decode() + "'"
        for body in parser.bodies
    }


def test_csp_relaxed_only_there_and_only_as_far_as_needed(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    page = client.get(DASHBOARD, follow_redirects=True, headers=accounts.admin)
    assert page.status_code == 200
    policy = _csp(page)
    script_src = policy["script-src"].split()
    # Its one inline script by hash (not 'unsafe-inline'), and eval for underscore's templates.
    hashes = _inline_script_hashes(page.get_data(as_text=True))
    assert len(hashes) == 1
    assert set(script_src) == {"script-src", "'self'", "'unsafe-eval'", *hashes}
    # Inline style attributes, but no inline <style> elements.
    assert policy["style-src"] == "style-src 'self'"
    assert policy["style-src-attr"] == "style-src-attr 'unsafe-inline'"
    assert policy["object-src"] == "object-src 'none'"
    assert policy["frame-ancestors"] == "frame-ancestors 'none'"
    assert policy["base-uri"] == "base-uri 'none'"
    data = _csp(client.get(QUEUES, headers=accounts.admin))
    assert data["script-src"] == "script-src 'self' 'unsafe-eval'"
    refused = _csp(client.get(DASHBOARD))
    assert "'unsafe-inline'" not in refused["script-src"]
    assert refused["object-src"] == "object-src 'none'"
    assert refused["frame-ancestors"] == "frame-ancestors 'none'"
    # Everywhere else, neither inline scripts nor eval.
    for path in ("/healthz", "/", "/api/v1/posts"):
        response = client.get(path)
        response.close()  # "/" may be the built index.html, served from its file
        elsewhere = _csp(response)
        assert elsewhere["script-src"] == "script-src 'self'", path
        assert elsewhere["style-src"] == "style-src 'self'", path
        assert "style-src-attr" not in elsewhere
        assert elsewhere["object-src"] == "object-src 'none'"
        assert elsewhere["frame-ancestors"] == "frame-ancestors 'none'"


def test_dashboard_session_for_admins(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    problem(client.post(SESSION), 401)
    problem(client.post(SESSION, headers=accounts.alice), 403)
    assert client.get_cookie("session") is None
    problem(client.get(QUEUES), 401)

    response = client.post(SESSION, headers=accounts.admin)
    assert response.status_code == 204
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.http_only
    # Only the cookie now: the dashboard answers...
    data = client.get(QUEUES)
    assert data.status_code == 200, data.get_data(as_text=True)[:300]
    assert "queues" in data.get_json()
    # ... but the cookie is no API credential.
    problem(client.get("/api/v1/users/me"), 401)
    problem(client.post(SESSION), 401)


def test_the_dashboard_session_is_short_and_strict(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    assert client.post(SESSION, headers=accounts.admin).status_code == 204
    cookie = client.get_cookie("session")
    assert cookie is not None and cookie.expires is not None
    lifetime = cookie.expires - datetime.now(UTC)
    assert lifetime <= timedelta(hours=1, minutes=1), lifetime
    assert cookie.same_site == "Strict"


def _change_user(
    app: APIFlask,
    user_id: uuid.UUID,
    *,
    roles: tuple[str, ...] | None = None,
    active: bool | None = None,
) -> None:
    with app.app_context():
        user = db.session.get(User, user_id)
        assert user is not None
        if roles is not None:
            user.roles = list(db.session.scalars(sa.select(Role).where(Role.name.in_(roles))))
        if active is not None:
            user.active = active
        db.session.commit()


def test_a_demoted_admin_loses_the_dashboard(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    assert client.post(SESSION, headers=accounts.admin).status_code == 204
    assert client.get(QUEUES).status_code == 200
    _change_user(app, accounts.ids["root"], roles=("user",))
    problem(client.get(QUEUES), 403)
    problem(client.get(QUEUES, headers=accounts.admin), 403)


def test_a_deactivated_admin_loses_the_dashboard(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    assert client.post(SESSION, headers=accounts.admin).status_code == 204
    _change_user(app, accounts.ids["root"], active=False)
    problem(client.get(QUEUES), 401)


def test_the_session_ends_with_the_login_that_opened_it(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    assert client.post(SESSION, headers=accounts.admin).status_code == 204
    assert client.get(QUEUES).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=accounts.admin, json={}).status_code == 204
    problem(client.get(QUEUES), 401)


def test_the_session_ends_when_every_login_does(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    # Signing out everywhere moves the token version, as a password reset does.
    assert client.post(SESSION, headers=accounts.admin).status_code == 204
    assert client.get(QUEUES).status_code == 200
    assert client.post("/api/v1/auth/logout-all", headers=accounts.admin).status_code == 204
    problem(client.get(QUEUES), 401)


def test_a_session_outlives_no_deactivation(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    assert client.post(SESSION, headers=accounts.admin).status_code == 204
    assert client.get(QUEUES).status_code == 200
    # Another admin deactivates root, then lets root back in: the old session stays dead.
    _change_user(app, accounts.ids["alice"], roles=("user", "admin"))
    root = f"/api/v1/users/{accounts.ids['root']}"
    with app.test_client() as other:
        for active in (False, True):
            response = other.patch(root, headers=accounts.alice, json={"active": active})
            assert response.status_code == 200, response.get_data(as_text=True)
    problem(client.get(QUEUES), 401)
    problem(client.get(QUEUES, headers=accounts.admin), 401)


def test_a_forged_session_is_refused(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    # A session cookie signed with another key names the admin: not accepted.

    other = Flask("forger")
    other.secret_key = "another-key-entirely-" + uuid.uuid4().hex
    serializer = other.session_interface.get_signing_serializer(other)  # type: ignore[attr-defined]
    assert serializer is not None
    forged = serializer.dumps({"dashboard_user": str(accounts.ids["root"])})
    client.set_cookie("session", forged)
    problem(client.get(QUEUES), 401)


def test_the_dashboard_role_answers_like_the_web_role(
    app_config: dict[str, Any], runner: FlaskCliRunner, accounts: Accounts, redis: Redis
) -> None:
    # The `dashboard` process serves the base app only (no API domains): its refusals are
    # still problem+json with translated titles, and an admin's token still opens it.
    assert runner.invoke(args=["translate", "compile"]).exit_code == 0
    with built_app(app_config, base_only=True) as dashboard:
        client = dashboard.test_client()
        refused = problem(client.get(DASHBOARD, headers={"Accept-Language": "de"}), 401)
        assert refused["title"] == "Nicht angemeldet", refused
        problem(client.get(DASHBOARD, headers=accounts.alice), 403)
        assert client.get(DASHBOARD, headers=accounts.admin).status_code == 200


def test_a_demotion_ends_the_session_for_good(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    assert client.post(SESSION, headers=accounts.admin).status_code == 204
    assert client.get(QUEUES).status_code == 200
    # Another admin takes root's admin role away, then gives it back.
    _change_user(app, accounts.ids["alice"], roles=("user", "admin"))
    root = f"/api/v1/users/{accounts.ids['root']}"
    with app.test_client() as other:
        for roles in (["user"], ["user", "admin"]):
            response = other.patch(root, headers=accounts.alice, json={"roles": roles})
            assert response.status_code == 200, response.get_data(as_text=True)
    # The cookie opened before the demotion stays dead; root's token (current roles) and a
    # session opened now work.
    problem(client.get(QUEUES), 401)
    assert client.get(QUEUES, headers=accounts.admin).status_code == 200
    assert client.post(SESSION, headers=accounts.admin).status_code == 204
    assert client.get(QUEUES).status_code == 200


def test_a_password_reset_ends_the_session(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    assert client.post(SESSION, headers=accounts.admin).status_code == 204
    assert client.get(QUEUES).status_code == 200
    with app.app_context():
        root = db.session.get(User, accounts.ids["root"])
        assert root is not None
        token = mails.reset_token(root)
    body = {"token": token, "password": "an entirely new passphrase"}
    with app.test_client() as other:
        assert other.post("/api/v1/auth/password-reset/confirm", json=body).status_code == 204
    problem(client.get(QUEUES), 401)
