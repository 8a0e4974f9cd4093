"""Chaos fixtures: a PostgreSQL cluster and Redis servers of the tests' own, a web stack on them.

Nothing here touches the machine's shared servers: the cluster is made by ``initdb`` into a
temporary directory, each Redis is a fresh ``redis-server``, both on free loopback ports.
Each test records its counts with :func:`report`; the terminal summary prints them.
"""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask_migrate import upgrade

from flaskyard.devserver import free_port
from flaskyard.extensions import db, ensure_migrate
from flaskyard.users.services import ensure_roles
from tests.support import backends, summary
from tests.support.apps import base_config, built_app
from tests.support.factories import make_user
from tests.support.outages import Outcome, OwnRedis, PostgresCluster, missing_binaries
from tests.support.outages import postgres_bindir as _postgres_bindir
from tests.support.servers import ROOT, Gunicorn, clean_environ

#: The test users in every chaos database (made with the test suite's cheap password hashes).
USERS = ("alice", "bob", "carol")
PASSWORD = "chaos-password-1"
TEMPLATE = "chaos_template"
#: How long gunicorn may take to answer: on a busy 2-core machine, booting takes seconds.
STARTUP_SECONDS = 60.0
#: No request may take longer than this, outage or not.
REQUEST_TIMEOUT_SECONDS = 10.0


def report(line: str) -> None:
    """Show ``line`` in the ``chaos`` section of the terminal summary (and print it now)."""
    summary.report("chaos", line)
    print(line)


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    """A PostgreSQL cluster of the chaos tests' own (stopped and restarted by them)."""
    reason = missing_binaries()
    if reason:
        if "chaos" in backends.required():
            pytest.fail(f"chaos tests required (REQUIRE_BACKENDS) but cannot run: {reason}")
        pytest.skip(f"chaos tests need servers of their own: {reason}")
    bindir = _postgres_bindir()
    assert bindir is not None
    cluster = PostgresCluster(bindir)
    try:
        cluster.init()
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="session")
def template_database(postgres_cluster: PostgresCluster) -> str:
    """A migrated database with the test users, copied for each test (migrating is slow)."""
    url = postgres_cluster.create_database(TEMPLATE)
    # No Redis: the template needs none, and the machine's shared one is off limits here.
    config = base_config(url, REDIS_URL="", INSTANCE_DIR=postgres_cluster.root / "instance")
    with built_app(config) as application:
        ensure_migrate(application)
        with application.app_context():
            upgrade()
            ensure_roles(session=db.session)
            for name in USERS:
                make_user(db.session, name, password=PASSWORD)
            db.session.commit()
    return TEMPLATE


@pytest.fixture
def chaos_app(
    postgres_cluster: PostgresCluster, template_database: str, own_redis: OwnRedis, tmp_path: Path
) -> Iterator[APIFlask]:
    """An app in this process on a copy of the template database and the test's own Redis."""
    database_url = postgres_cluster.create_database(
        f"chaos_{uuid.uuid4().hex[:12]}", template=template_database
    )
    config = base_config(
        database_url,
        REDIS_URL=own_redis.url,
        INSTANCE_DIR=tmp_path / "instance",
        UPLOAD_DIR=tmp_path / "uploads",
    )
    with built_app(config) as application:
        yield application


@pytest.fixture
def own_redis(tmp_path: Path, postgres_cluster: PostgresCluster) -> Iterator[OwnRedis]:
    """A redis-server of this test's own, on its own port."""
    server = OwnRedis(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@dataclass
class Stack:
    """gunicorn on a copy of the template database and the test's own Redis; a client."""

    env: dict[str, str]
    web: Gunicorn
    database_url: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_logs: list[Path] = field(default_factory=list)

    def call(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        json_body: Any = None,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float = REQUEST_TIMEOUT_SECONDS,
    ) -> tuple[Outcome, Any]:
        """One request on a fresh connection, timed; never raises (status 0: no answer)."""
        sent = {"Connection": "close", "Accept": "application/json", **(headers or {})}
        if json_body is not None:
            body = json.dumps(json_body).encode()
            sent["Content-Type"] = "application/json"
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        host, port = self.web.address
        started = time.monotonic()
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=sent)
            response = connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException) as exc:
            return Outcome(kind, started, time.monotonic(), 0, error=repr(exc)), None
        finally:
            connection.close()
        outcome = Outcome(
            kind,
            started,
            time.monotonic(),
            response.status,
            content_type=response.getheader("Content-Type", ""),
            retry_after=response.getheader("Retry-After"),
        )
        try:
            payload = json.loads(data) if data else None
        except ValueError:
            payload = data
        return outcome, payload

    def sign_in(self, username: str) -> str:
        """Sign in as one of ``USERS``; the access token."""
        signed_in, body = self.call(
            "login",
            "POST",
            "/api/v1/auth/login",
            json_body={"username": username, "password": PASSWORD},
        )
        assert signed_in.status == 200, (signed_in, body)
        token: str = body["access_token"]
        return token

    def logs(self) -> str:
        """The tails of the server's and the workers' logs, for failure messages."""
        tails = [f"--- gunicorn ---\n{self.web.log_tail(60)}"]
        for path in self.worker_logs:
            lines = path.read_text(errors="replace").splitlines()[-40:]
            tails.append(f"--- {path.name} ---\n" + "\n".join(lines))
        return "\n".join(tails)


#: ``make(**settings)`` of the ``stack_factory`` fixture.
StackFactory = Callable[..., Stack]


def stack_env(database_url: str, redis_url: str, directory: Path, **extra: str) -> dict[str, str]:
    """The production environment of every process of a chaos stack."""
    return clean_environ(
        {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REQUIRE_VERIFIED_EMAIL": "false",
            "INSTANCE_DIR": str(directory / "instance"),
            "UPLOAD_DIR": str(directory / "uploads"),
            "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
            # One worker process starts fastest; its threads serve the clients in parallel.
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "8",
            "GUNICORN_PID_FILE": str(directory / "gunicorn.pid"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )


@pytest.fixture
def stack_factory(
    postgres_cluster: PostgresCluster, template_database: str, own_redis: OwnRedis, tmp_path: Path
) -> Iterator[StackFactory]:
    """``make(**settings)``: a migrated database on the cluster and gunicorn serving it."""
    stacks: list[Stack] = []

    def make(*, workers: int = 0, **extra: str) -> Stack:
        database_url = postgres_cluster.create_database(
            f"chaos_{uuid.uuid4().hex[:12]}", template=template_database
        )
        env = stack_env(database_url, own_redis.url, tmp_path, **extra)
        stack = Stack(env, Gunicorn(env, tmp_path / "gunicorn.log"), database_url)
        stacks.append(stack)
        stack.web.start()
        # Started while gunicorn boots: on a busy machine each start takes seconds.
        for n in range(workers):
            log_path = tmp_path / f"worker-{n}.log"
            with log_path.open("wb") as log:
                stack.workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "flask", "--app", "flaskyard", "worker"],
                        cwd=ROOT,
                        env=env,
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
            stack.worker_logs.append(log_path)
        stack.web.wait_ready(timeout=STARTUP_SECONDS)
        return stack

    try:
        yield make
    finally:
        for stack in stacks:
            for worker in stack.workers:
                worker.terminate()
            stack.web.stop()
            for worker in stack.workers:
                try:
                    worker.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    worker.kill()
                    worker.wait()
