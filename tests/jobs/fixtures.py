"""Fixtures shared by the jobs, uploads, worker and dashboard tests (imported where used)."""

from __future__ import annotations

import atexit
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis

from tests.auth.util import isolate_rate_limits
from tests.jobs.util import PASSWORD, PrivateRedis, WorkerProcesses, login

_private: PrivateRedis | None = None


def _private_redis() -> PrivateRedis:
    global _private
    if _private is None:
        _private = PrivateRedis(Path(tempfile.mkdtemp(prefix="flaskyard-test-redis-")))
        atexit.register(_private.stop)
    return _private


@pytest.fixture(scope="session")
def jobs_redis_url(redis_url: str) -> str:
    """A Redis only this test session uses (a private redis-server), so it may be flushed.

    Without a redis-server binary, database 14 of the shared test Redis is used instead.
    """
    server = _private_redis()
    if server.url:
        return server.url
    from redis.connection import parse_url

    return redis_url.rsplit("/", 1)[0] + "/14" if parse_url(redis_url).get("db") else redis_url


@pytest.fixture
def redis(jobs_redis_url: str) -> Iterator[Redis]:
    """A client of the test's Redis, emptied before the test."""
    client = Redis.from_url(jobs_redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _isolated_redis(request: pytest.FixtureRequest) -> None:
    """Every app of these tests uses the flushed private Redis and its own rate-limit keys."""
    if "app_config" in request.fixturenames:
        request.getfixturevalue("redis")
        app_config = request.getfixturevalue("app_config")
        app_config["REDIS_URL"] = request.getfixturevalue("jobs_redis_url")
        isolate_rate_limits(app_config)


@dataclass
class Accounts:
    """Three signed-in accounts and their Authorization headers."""

    alice: dict[str, str]
    bob: dict[str, str]
    admin: dict[str, str]
    ids: dict[str, Any] = field(default_factory=dict)


@pytest.fixture
def accounts(app: APIFlask, client: FlaskClient) -> Accounts:
    """alice and bob (role user) and root (user, admin), signed in.

    Made in a short app context of their own, so every request of the test then runs in its
    own app context and database session, as in production (the ``db`` fixture would keep one
    session, with one long transaction, across all requests).
    """
    from flaskyard.extensions import db
    from flaskyard.users.services import create_user, ensure_roles

    ids = {}
    with app.app_context():
        ensure_roles(session=db.session)
        for name, roles in (("alice", ("user",)), ("bob", ("user",)), ("root", ("user", "admin"))):
            user = create_user(
                session=db.session,
                username=name,
                email=f"{name}@example.com",
                password=PASSWORD,
                roles=roles,
            )
            db.session.flush()
            ids[name] = user.id
        db.session.commit()
    return Accounts(
        alice=login(client, "alice"),
        bob=login(client, "bob"),
        admin=login(client, "root"),
        ids=ids,
    )


@pytest.fixture
def workers(app: APIFlask, tmp_path: Path) -> Iterator[WorkerProcesses]:
    """Start ``flask worker`` subprocesses; every one left is killed after the test."""
    started = WorkerProcesses(app, tmp_path)
    yield started
    started.stop_all()
