"""Refresh rotation, replay detection, logout, and the memory, Redis and database stores."""

from __future__ import annotations

import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from flask.testing import FlaskClient
from flask_jwt_extended import create_access_token
from flask_sqlalchemy import SQLAlchemy

from flaskyard.auth.models import RevokedToken
from flaskyard.auth.tokens import issue_pair, revoke_token
from flaskyard.extensions import db
from tests.support.api import (
    LOGOUT,
    ME,
    REFRESH,
    bearer,
    login,
    me_status,
    problem,
    refresh_status,
    tokens,
)
from tests.support.apps import built_app, isolate_rate_limits
from tests.support.factories import UserFactory, make_user
from tests.support.jwts import unverified

STORES = ["memory", "redis", "database"]


@pytest.fixture(params=STORES)
def store(request: pytest.FixtureRequest, app_config: dict[str, Any]) -> str:
    """The app under test uses each revocation store in turn."""
    if request.param == "redis":
        request.getfixturevalue("redis_url")
    app_config["TOKEN_BLOCKLIST"] = request.param
    return str(request.param)


@pytest.fixture
def database_store(app_config: dict[str, Any]) -> None:
    app_config["TOKEN_BLOCKLIST"] = "database"


@pytest.fixture
def refresh_ttl(app_config: dict[str, Any]) -> int:
    """Not the 30-day default, so an entry that follows a token is told from a fixed TTL."""
    app_config["JWT_REFRESH_TOKEN_EXPIRES"] = 3600
    return 3600


@pytest.fixture
def alice(roles: None, make_user: UserFactory) -> Any:
    return make_user("alice")


def _rotate(client: FlaskClient, refresh_token: str) -> dict[str, Any]:
    response = client.post(REFRESH, headers=bearer(refresh_token))
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    return body


@pytest.mark.usefixtures("store", "alice")
def test_refresh_rotates_and_a_replay_kills_the_whole_login(client: FlaskClient) -> None:
    stolen = tokens(client, "alice")
    other_login = tokens(client, "alice")
    newer = _rotate(client, stolen["refresh_token"])
    assert newer["access_token"] != stolen["access_token"]
    assert newer["refresh_token"] != stolen["refresh_token"]
    assert (
        unverified(newer["refresh_token"])[1]["fam"] == unverified(stolen["access_token"])[1]["fam"]
    )
    assert me_status(client, newer["access_token"]) == 200
    newest = _rotate(client, newer["refresh_token"])
    assert me_status(client, newest["access_token"]) == 200

    body = problem(client.post(REFRESH, headers=bearer(stolen["refresh_token"])), 401)
    assert "already used" in body["detail"]
    for token in (newer["access_token"], newest["access_token"], stolen["access_token"]):
        assert me_status(client, token) == 401
    assert refresh_status(client, newest["refresh_token"]) == 401
    assert me_status(client, other_login["access_token"]) == 200
    assert refresh_status(client, other_login["refresh_token"]) == 200


@pytest.mark.usefixtures("store", "alice")
def test_logout(client: FlaskClient, make_user: UserFactory) -> None:
    # Both tokens of this login die; other logins live on.
    problem(client.post(LOGOUT), 401)
    pair = tokens(client, "alice")
    other = tokens(client, "alice")
    response = client.post(LOGOUT, headers=bearer(pair["access_token"]))
    assert response.status_code == 204
    assert response.get_data() == b""
    problem(client.get(ME, headers=bearer(pair["access_token"])), 401)
    assert refresh_status(client, pair["refresh_token"]) == 401
    assert client.post(LOGOUT, headers=bearer(pair["access_token"])).status_code == 401
    assert me_status(client, other["access_token"]) == 200
    assert refresh_status(client, other["refresh_token"]) == 200

    # A refresh token named in the body dies too, even one of another login.
    make_user("bob")
    this_login = tokens(client, "alice")
    named = tokens(client, "alice")
    bobs = tokens(client, "bob")
    response = client.post(
        LOGOUT,
        headers=bearer(this_login["access_token"]),
        json={"refresh_token": named["refresh_token"]},
    )
    assert response.status_code == 204
    assert refresh_status(client, named["refresh_token"]) == 401
    assert me_status(client, named["access_token"]) == 200  # only the named token
    assert refresh_status(client, this_login["refresh_token"]) == 401
    # Someone else's token in the body is left alone.
    mine = tokens(client, "alice")
    response = client.post(
        LOGOUT, headers=bearer(mine["access_token"]), json={"refresh_token": bobs["refresh_token"]}
    )
    assert response.status_code == 204
    assert refresh_status(client, bobs["refresh_token"]) == 200


#: Long enough for four sign-ins and two logouts on a loaded machine, short enough to wait out.
SHORT_TTL = 3


def _logout_fresh_logins(clients: dict[str, FlaskClient]) -> dict[str, tuple[Any, Any]] | None:
    """Per store: a logged-out pair and a control pair, used within their short lifetime."""
    time.sleep(1.02 - time.time() % 1)  # start right after a second boundary
    pairs = {}
    for kind, client in clients.items():
        pair, control = tokens(client, "alice"), tokens(client, "alice")
        response = client.post(
            LOGOUT,
            headers=bearer(pair["access_token"]),
            json={"refresh_token": pair["refresh_token"]},
        )
        if response.status_code == 401:  # the machine stalled past the token's lifetime
            return None
        assert response.status_code == 204
        pairs[kind] = (pair, control)
    return pairs


@pytest.mark.usefixtures("alice")
def test_revoked_refresh_outlives_the_access_ttl(
    app_config: dict[str, Any], redis_url: str
) -> None:
    """Entries live as long as the refresh token, not the short access token; one sleep."""
    with ExitStack() as stack:
        clients = {}
        for kind in ("redis", "database"):
            config = {**app_config, "TOKEN_BLOCKLIST": kind, "JWT_ACCESS_TOKEN_EXPIRES": SHORT_TTL}
            isolate_rate_limits(config)
            clients[kind] = stack.enter_context(built_app(config)).test_client()
        pairs = None
        for _ in range(3):
            pairs = _logout_fresh_logins(clients)
            if pairs:
                break
        assert pairs
        expiry = max(unverified(p[0]["access_token"])[1]["exp"] for p in pairs.values())
        time.sleep(max(0.0, expiry - time.time()) + 0.3)
        for kind, (pair, control) in pairs.items():
            client = clients[kind]
            assert me_status(client, control["access_token"]) == 401, kind  # the TTL has passed
            assert refresh_status(client, pair["refresh_token"]) == 401, kind
            assert refresh_status(client, control["refresh_token"]) == 200, kind


def _unreachable(url: str) -> str:
    parsed = sa.make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return "sqlite:////nonexistent-flaskyard-dir/none.db"
    return parsed.set(port=1).render_as_string(hide_password=False)


def _mint(application: APIFlask) -> str:
    """A real token of a real-looking login, made without touching the stores."""
    with application.app_context():
        token: str = create_access_token(
            identity="00000000-0000-4000-8000-000000000001",
            additional_claims={"fam": "f" * 32, "ver": 0},
        )
    return token


def test_redis_store_down_fails_closed(app_config: dict[str, Any]) -> None:
    config = {**app_config, "TOKEN_BLOCKLIST": "redis", "REDIS_URL": "redis://127.0.0.1:1/0"}
    isolate_rate_limits(config)
    with built_app(config) as application:
        client = application.test_client()
        response = client.get(ME, headers=bearer(_mint(application)))
        assert response.status_code in (401, 503)
        problem(response, response.status_code)
        # Login needs the limiter's Redis too: as production would answer it (no propagation).
        application.config["PROPAGATE_EXCEPTIONS"] = False
        response = login(client, "alice")
        assert response.status_code in (500, 503)
        problem(response, response.status_code)


def test_database_store_down_fails_closed(app_config: dict[str, Any], database_url: str) -> None:
    config = {
        **app_config,
        "TOKEN_BLOCKLIST": "database",
        "DATABASE_URL": _unreachable(database_url),
    }
    isolate_rate_limits(config)
    with built_app(config) as application:
        response = application.test_client().get(ME, headers=bearer(_mint(application)))
        assert response.status_code in (401, 503)
        body = problem(response, response.status_code)
        assert response.status_code == 503, body


def _rows(db: SQLAlchemy) -> dict[str, datetime]:
    db.session.rollback()  # a fresh snapshot: REPEATABLE READ (MySQL) would hide new rows
    return {row.key: row.expires_at for row in db.session.scalars(sa.select(RevokedToken))}


def _near(when: datetime, epoch: int) -> bool:
    return abs(when.timestamp() - epoch) <= 5


@pytest.mark.usefixtures("refresh_ttl", "database_store", "alice")
def test_database_entries_expire_with_their_tokens(app: APIFlask, db: SQLAlchemy) -> None:
    client = app.test_client()
    pair = tokens(client, "alice")
    _, access = unverified(pair["access_token"])
    _, refresh = unverified(pair["refresh_token"])

    # A single access token revoked on its own: the entry ends when the token would.
    with app.test_request_context():
        assert revoke_token(pair["access_token"], expected_identity=access["sub"])
    rows = _rows(db)
    assert _near(rows[access["jti"]], access["exp"])
    assert rows[access["jti"]] < datetime.now(UTC) + timedelta(seconds=905)

    # A spent refresh token: remembered as long as it could be replayed.
    _rotate(client, pair["refresh_token"])
    used = [key for key in _rows(db) if refresh["jti"] in key]
    assert len(used) == 1
    assert _near(_rows(db)[used[0]], refresh["exp"])

    # Logout: the login's entry lasts as long as its longest-lived (refresh) token.
    newer = tokens(client, "alice")
    _, newer_refresh = unverified(newer["refresh_token"])
    assert client.post(LOGOUT, headers=bearer(newer["access_token"])).status_code == 204
    family = [key for key in _rows(db) if newer_refresh["fam"] in key]
    assert len(family) == 1
    assert _near(_rows(db)[family[0]], newer_refresh["exp"])
    assert refresh_status(client, newer["refresh_token"]) == 401


@pytest.mark.usefixtures("database_store")
def test_purge_revoked_deletes_only_expired_rows(db: SQLAlchemy, runner: Any) -> None:
    now = datetime.now(UTC)
    db.session.execute(
        sa.insert(RevokedToken),
        [
            {"key": "expired-1", "expires_at": now - timedelta(days=1)},
            {"key": "expired-2", "expires_at": now - timedelta(seconds=5)},
            {"key": "current", "expires_at": now + timedelta(hours=1)},
        ],
    )
    db.session.commit()
    result = runner.invoke(args=["purge-revoked"])
    assert result.exit_code == 0, result.output
    assert "Purged 2" in result.output
    assert set(_rows(db)) == {"current"}
    assert "Purged 0" in runner.invoke(args=["purge-revoked"]).output


@pytest.mark.usefixtures("roles")
def test_a_revoked_login_stays_revoked_in_a_new_app(
    app_config: dict[str, Any], redis_url: str, database_url: str
) -> None:
    """Shared stores: what one worker revokes, another (a second app) refuses."""
    for kind in ("redis", "database"):
        config = {**app_config, "TOKEN_BLOCKLIST": kind}
        isolate_rate_limits(config)
        with built_app(config) as first, first.app_context():
            user = make_user(db.session, f"carol-{kind}")
            db.session.commit()
            pair = issue_pair(user)
            client = first.test_client()
            assert client.post(LOGOUT, headers=bearer(pair["access_token"])).status_code == 204
        with built_app(config) as second:
            client = second.test_client()
            assert me_status(client, pair["access_token"]) == 401, kind
            assert refresh_status(client, pair["refresh_token"]) == 401, kind
