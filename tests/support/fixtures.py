"""Fixtures shared by the jobs, uploads, worker and dashboard tests (imported where used).

Every test there gets a Redis of its own: one private ``redis-server`` per test session (so
flushing it never touches the Redis other test runs share), emptied before each test.
"""

from __future__ import annotations

import atexit
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis

from flaskyard.extensions import db
from flaskyard.users.services import ensure_roles
from tests.support.api import auth_headers
from tests.support.backends import redis_answers, start_redis_server
from tests.support.factories import make_user
from tests.support.jobs import WorkerProcesses


class PrivateRedis:
    """A ``redis-server`` on a free loopback port, for this test session only."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""
        started = start_redis_server(directory, "--appendonly", "no", "--databases", "4")
        if started is None:
            return
        self.process, url = started
        if redis_answers(url):
            self.url = url
        else:
            self.stop()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        shutil.rmtree(self.directory, ignore_errors=True)


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
    database = int(urlsplit(redis_url).path.strip("/") or 0)
    return redis_url.rsplit("/", 1)[0] + "/14" if database else redis_url


@pytest.fixture
def redis(jobs_redis_url: str) -> Iterator[Redis]:
    """A client of the test's Redis, emptied before the test."""
    client = Redis.from_url(jobs_redis_url)
    client.flushdb()
    yield client
    client.close()


@pytest.fixture(autouse=True)
def _isolated_redis(request: pytest.FixtureRequest) -> None:
    """Every app of these tests uses the flushed private Redis."""
    if "app_config" in request.fixturenames:
        request.getfixturevalue("redis")
        app_config = request.getfixturevalue("app_config")
        app_config["REDIS_URL"] = request.getfixturevalue("jobs_redis_url")


@dataclass
class Accounts:
    """Three signed-in accounts and their Authorization headers."""

    alice: dict[str, str]
    bob: dict[str, str]
    admin: dict[str, str]
    ids: dict[str, uuid.UUID] = field(default_factory=dict)


@pytest.fixture
def accounts(app: APIFlask, client: FlaskClient) -> Accounts:
    """alice and bob (role user) and root (user, admin), signed in.

    Made in a short app context of their own, so every request of the test then runs in its
    own app context and database session, as in production (the ``db`` fixture would keep one
    session, with one long transaction, across all requests).
    """
    ids = {}
    with app.app_context():
        ensure_roles(session=db.session)
        for name, roles in (("alice", ("user",)), ("bob", ("user",)), ("root", ("user", "admin"))):
            ids[name] = make_user(db.session, name, roles=roles).id
        db.session.commit()
    return Accounts(
        alice=auth_headers(client, "alice"),
        bob=auth_headers(client, "bob"),
        admin=auth_headers(client, "root"),
        ids=ids,
    )


@pytest.fixture
def workers(app: APIFlask, tmp_path: Path) -> Iterator[WorkerProcesses]:
    """Start ``flask worker`` subprocesses; every one left is killed after the test."""
    started = WorkerProcesses(app, tmp_path)
    yield started
    started.stop_all()
