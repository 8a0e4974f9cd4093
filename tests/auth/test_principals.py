"""The signed-in user kept in process memory: one Redis round trip, never stale, fail closed.

Two app instances share one database and one Redis, as two gunicorn workers do: a change made
through one (or through a service, as a job would) applies to the very next request on the
other, although the other had the user in memory.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy
from jwt.api_jws import PyJWS
from redis.exceptions import ConnectionError as RedisConnectionError

from flaskyard.auth import principals
from flaskyard.auth.principals import generation_key
from flaskyard.broker import get_redis
from flaskyard.extensions import db as _db
from flaskyard.users.models import User
from flaskyard.users.services import update_user
from tests.support.api import ME, PASSWORD, auth_headers, problem
from tests.support.apps import built_app, isolate_rate_limits
from tests.support.backends import start_redis_server
from tests.support.factories import UserFactory

USERS = "/api/v1/users"
pytestmark = pytest.mark.usefixtures("redis_url")


@pytest.fixture
def redis_store(app_config: dict[str, Any]) -> None:
    app_config["TOKEN_BLOCKLIST"] = "redis"


@pytest.fixture
def other(app_config: dict[str, Any], redis_store: None, app: APIFlask) -> Iterator[APIFlask]:
    """A second app on the same database and Redis: another worker process, in effect."""
    config = dict(app_config)
    isolate_rate_limits(config)
    with built_app(config) as application:
        yield application


@pytest.fixture
def people(roles: None, make_user: UserFactory) -> dict[str, User]:
    """An admin who makes the changes and bob, an admin about to lose the role."""
    return {
        "root": make_user("root", roles=("user", "admin")),
        "bob": make_user("bob", roles=("user", "admin")),
    }


def _statements(application: APIFlask) -> list[str]:
    """Every SQL statement ``application``'s engine runs from now on (a live list)."""
    seen: list[str] = []
    with application.app_context():
        engine = _db.engine

    def record(*args: Any) -> None:
        seen.append(str(args[2]))

    sa.event.listen(engine, "before_cursor_execute", record)
    return seen


def test_a_warm_request_runs_no_sql(
    app: APIFlask, client: FlaskClient, redis_store: None, people: dict[str, User]
) -> None:
    headers = auth_headers(client, "bob")
    first = client.get(ME, headers=headers)
    assert first.status_code == 200, first.get_json()
    statements = _statements(app)
    again = client.get(ME, headers=headers)
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    assert again.get_json()["roles"] == ["admin", "user"]
    assert statements == []


def test_the_memory_and_database_stores_read_the_user_every_time(
    app_config: dict[str, Any], people: dict[str, User]
) -> None:
    for store in ("memory", "database"):
        config = {**app_config, "TOKEN_BLOCKLIST": store}
        isolate_rate_limits(config)
        with built_app(config) as application:
            client = application.test_client()
            headers = auth_headers(client, "bob")
            assert client.get(ME, headers=headers).status_code == 200
            statements = _statements(application)
            assert client.get(ME, headers=headers).status_code == 200
            assert any("FROM users" in sql for sql in statements), (store, statements)


def test_demotion_applies_on_the_next_request_on_another_process(
    client: FlaskClient, other: APIFlask, people: dict[str, User]
) -> None:
    root = auth_headers(client, "root")
    bob_client = other.test_client()
    bob = auth_headers(bob_client, "bob")
    # Bob's other process has him in memory as an admin.
    assert bob_client.get(USERS, headers=bob).status_code == 200
    assert bob_client.get(USERS, headers=bob).status_code == 200

    patched = client.patch(f"{USERS}/{people['bob'].id}", json={"roles": ["user"]}, headers=root)
    assert patched.status_code == 200, patched.get_json()

    problem(bob_client.get(USERS, headers=bob), 403)
    assert bob_client.get(ME, headers=bob).get_json()["roles"] == ["user"]


def test_deactivation_applies_on_the_next_request_on_another_process(
    client: FlaskClient, other: APIFlask, people: dict[str, User]
) -> None:
    root = auth_headers(client, "root")
    bob_client = other.test_client()
    bob = auth_headers(bob_client, "bob")
    assert bob_client.get(ME, headers=bob).status_code == 200

    patched = client.patch(f"{USERS}/{people['bob'].id}", json={"active": False}, headers=root)
    assert patched.status_code == 200, patched.get_json()

    problem(bob_client.get(ME, headers=bob), 401)


def test_a_change_made_outside_a_request_applies_too(
    app: APIFlask, db: SQLAlchemy, other: APIFlask, people: dict[str, User]
) -> None:
    bob_client = other.test_client()
    bob = auth_headers(bob_client, "bob")
    assert bob_client.get(USERS, headers=bob).status_code == 200

    # As a job or a command would: the service flushes, the caller commits.
    user = db.session.get(User, people["bob"].id)
    assert user is not None
    update_user(session=db.session, user=user, roles=["user"])
    db.session.commit()

    problem(bob_client.get(USERS, headers=bob), 403)


def test_deleted_account_is_refused_on_another_process(
    client: FlaskClient, other: APIFlask, people: dict[str, User]
) -> None:
    bob_client = other.test_client()
    bob = auth_headers(bob_client, "bob")
    assert bob_client.get(ME, headers=bob).status_code == 200

    deleted = client.delete("/api/v1/users/me", json={"password": PASSWORD}, headers=bob)
    assert deleted.status_code == 204, deleted.get_json()

    problem(bob_client.get(ME, headers=bob), 401)


def test_a_commit_forgets_the_generation(
    app: APIFlask, client: FlaskClient, db: SQLAlchemy, people: dict[str, User]
) -> None:
    bob = auth_headers(client, "bob")
    assert client.get(ME, headers=bob).status_code == 200
    key = generation_key(people["bob"].id)
    redis = get_redis()
    assert redis is not None
    assert redis.get(key) is not None  # written by the first signed-in request

    user = db.session.get(User, people["bob"].id)
    assert user is not None
    user.email_verified = True
    db.session.commit()
    assert redis.get(key) is None
    assert client.get(ME, headers=bob).get_json()["email_verified"] is True


def test_a_change_is_refused_when_redis_cannot_be_told(
    app: APIFlask,
    client: FlaskClient,
    db: SQLAlchemy,
    people: dict[str, User],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = auth_headers(client, "root")
    redis = get_redis()
    assert redis is not None

    def unreachable(*_keys: Any) -> int:
        raise RedisConnectionError("Redis went away.")

    monkeypatch.setattr(redis, "delete", unreachable)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    response = client.patch(f"{USERS}/{people['bob'].id}", json={"roles": ["user"]}, headers=root)
    problem(response, 503)
    monkeypatch.undo()

    db.session.rollback()
    user = db.session.get(User, people["bob"].id)
    assert user is not None
    assert user.role_names == ["admin", "user"]


def test_redis_down_fails_closed_even_for_a_user_in_memory(
    app_config: dict[str, Any], people: dict[str, User], tmp_path: Path
) -> None:
    started = start_redis_server(tmp_path)
    if started is None:
        pytest.skip("No redis-server binary to start a private Redis.")
    process, url = started
    try:
        config = {**app_config, "TOKEN_BLOCKLIST": "redis", "REDIS_URL": url}
        isolate_rate_limits(config)
        with built_app(config) as application:
            client = application.test_client()
            bob = auth_headers(client, "bob")
            assert client.get(ME, headers=bob).status_code == 200
            with application.app_context():
                assert principals.enabled()
            process.terminate()
            process.wait(timeout=10)
            problem(client.get(ME, headers=bob), 503)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)


def test_a_token_is_verified_once_per_process(
    client: FlaskClient, redis_store: None, people: dict[str, User], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    verify, load = PyJWS._verify_signature, PyJWS._load

    def counted_verify(self: PyJWS, *args: Any, **kwargs: Any) -> None:
        calls.append("verify")
        verify(self, *args, **kwargs)

    def counted_load(self: PyJWS, *args: Any, **kwargs: Any) -> Any:
        calls.append("parse")
        return load(self, *args, **kwargs)

    headers = auth_headers(client, "bob")
    monkeypatch.setattr(PyJWS, "_verify_signature", counted_verify)
    monkeypatch.setattr(PyJWS, "_load", counted_load)
    assert client.get(ME, headers=headers).status_code == 200
    # The first use: one verified decode, and Flask-JWT-Extended's decorator reads the header.
    assert sorted(calls) == ["parse", "parse", "verify"]
    calls.clear()
    assert client.get(ME, headers=headers).status_code == 200
    assert calls == ["parse"]  # verified already: only the decorator's header read is left


def test_a_verified_token_still_expires(
    app_config: dict[str, Any], people: dict[str, User]
) -> None:
    config = {**app_config, "TOKEN_BLOCKLIST": "redis", "JWT_ACCESS_TOKEN_EXPIRES": 1}
    isolate_rate_limits(config)
    with built_app(config) as application:
        client = application.test_client()
        headers = auth_headers(client, "bob")
        assert client.get(ME, headers=headers).status_code == 200
        time.sleep(2.1)  # past exp (whole seconds, no leeway): the kept copy must not count
        body = problem(client.get(ME, headers=headers), 401)
        assert "expired" in body["detail"]
