"""Revocation and throttling hold across real gunicorn worker processes and across a restart.

Two production-mode gunicorn servers (3 gthread workers, 1 thread each) run on loopback against
the machine's PostgreSQL and Redis: one keeps revoked tokens in Redis, the other in the database.
No request reuses a connection, and the access log names the worker pid of every request, so
each "every worker says 401" check asserts that *all* of the server's workers answered it.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from flaskyard.devserver import free_port
from tests.support import backends
from tests.support.servers import Gunicorn, Reply, clean_environ, flask_cli, restart_all, stop_all

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.redis]

STORES = ("redis", "database")
WORKERS = 3
PASSWORD = "correct horse battery staple"
PROBLEM = "application/problem+json"
REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"
USERS = "/api/v1/users"
ADMIN = "mproot"
#: LOGIN_RATE_LIMIT_ACCOUNT's default: 10 failed sign-ins per account per 15 minutes.
ACCOUNT_LIMIT = 10
#: Bursts of fresh connections to send before giving up on reaching every worker.
EVERY_WORKER_SECONDS = 30


@pytest.fixture(scope="module")
def servers(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Gunicorn]]:
    """One migrated PostgreSQL database and a running 3-worker gunicorn per revocation store."""
    probe = backends.probe_database("postgres")
    if not probe.ok:
        pytest.skip(probe.reason)
    tmp = tmp_path_factory.mktemp("multiprocess")
    # A name of its own, so two test sessions on one machine never drop each other's database.
    database = f"flaskyard_mp_{uuid.uuid4().hex[:8]}"
    database_url = backends.fresh_database_url("postgres", database, tmp)
    common = {
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        # Short-lived tokens, so revocation entries left in the shared Redis expire soon.
        "JWT_ACCESS_TOKEN_EXPIRES": "600",
        "JWT_REFRESH_TOKEN_EXPIRES": "900",
        "GUNICORN_WORKERS": str(WORKERS),
        "GUNICORN_THREADS": "1",
        "LOG_LEVEL": "WARNING",
        "INSTANCE_DIR": str(tmp / "instance"),
    }
    running: dict[str, Gunicorn] = {}
    try:
        for store in STORES:
            running[store] = Gunicorn(
                clean_environ(
                    {
                        **common,
                        "TOKEN_BLOCKLIST": store,
                        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
                        "GUNICORN_PID_FILE": str(tmp / f"gunicorn-{store}.pid"),
                        # Same prefix across a restart; no other run shares these counters.
                        "RATELIMIT_KEY_PREFIX": f"mp-{store}-{uuid.uuid4().hex}",
                    }
                ),
                tmp / f"gunicorn-{store}.log",
            )
            # Booting needs no tables, so the workers boot while the migration runs; no
            # request is sent before the migration and the seed have finished.
            running[store].start()
        env = clean_environ(common)
        flask_cli(env, "db", "upgrade")
        flask_cli(env, "seed")
        flask_cli(
            {**env, "ADMIN_PASSWORD": PASSWORD}, "create-admin", ADMIN, f"{ADMIN}@example.com"
        )
        for server in running.values():
            server.wait_ready()
        yield running
    finally:
        stop_all(list(running.values()))
        _drop_database(database)


def _drop_database(name: str) -> None:
    engine = sa.create_engine(
        backends.ADMIN_URLS["postgres"], isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
    )
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        engine.dispose()


@pytest.fixture(params=STORES)
def server(request: pytest.FixtureRequest, servers: dict[str, Gunicorn]) -> Gunicorn:
    return servers[request.param]


# -- helpers ----------------------------------------------------------------------------------


def detail(reply: Reply) -> str:
    return f"{reply.status} {reply.body[:300]!r}"


def store_of(server: Gunicorn) -> str:
    return server.env["TOKEN_BLOCKLIST"]


def register(server: Gunicorn) -> str:
    """A new account (its username) on ``server``."""
    username = f"mp{uuid.uuid4().hex[:12]}"
    reply = server.request(
        "POST",
        REGISTER,
        json_body={"username": username, "email": f"{username}@example.com", "password": PASSWORD},
    )
    assert reply.status == 201, detail(reply)
    return username


def login(server: Gunicorn, username: str, password: str = PASSWORD) -> Reply:
    return server.request("POST", LOGIN, json_body={"username": username, "password": password})


def token_pair(server: Gunicorn, username: str) -> dict[str, Any]:
    reply = login(server, username)
    assert reply.status == 200, detail(reply)
    pair: dict[str, Any] = reply.json()
    assert pair["token_type"] == "Bearer"
    return pair


def assert_every_worker(
    server: Gunicorn, status: int, method: str, path: str, **kwargs: Any
) -> list[Reply]:
    """Every one of ``server``'s workers answers ``status`` (and nothing else); return the replies.

    Bursts of 30 fresh connections, 6 in flight at once, are repeated until the access log shows
    that every live worker served at least one of them: "every worker" is checked, not assumed.
    A worker still loading the app after a restart takes no connection yet, so the bursts go on
    for up to EVERY_WORKER_SECONDS, not a fixed number of times.
    """
    workers = server.worker_pids()
    assert len(workers) == WORKERS or not workers, f"unexpected workers {workers}"
    served: set[int] = set()
    replies: list[Reply] = []
    deadline = time.monotonic() + EVERY_WORKER_SECONDS
    while time.monotonic() < deadline:
        burst = server.burst(method, path, **kwargs)
        replies += burst
        wrong = [detail(reply) for reply in burst if reply.status != status]
        assert not wrong, (
            f"[{store_of(server)}] {method} {path}: expected {status} every time, got {wrong}"
        )
        if status >= 400:
            for reply in burst:
                assert reply.headers.get("content-type", "").startswith(PROBLEM), detail(reply)
                assert reply.json()["status"] == status, detail(reply)
        served |= set(server.served_by(burst).values())
        if (workers and served >= workers) or (not workers and len(served) >= 2):
            break
    if workers:
        assert served >= workers, f"[{store_of(server)}] reached only {served} of {workers}"
    else:  # no /proc: at least two distinct worker pids answered
        assert len(served) >= 2, f"only worker {served} was reached"
    return replies


# -- tests ------------------------------------------------------------------------------------


def test_logout_is_seen_by_every_worker(server: Gunicorn) -> None:
    username = register(server)
    pair = token_pair(server, username)
    # The access token is good on every worker before the logout.
    assert_every_worker(server, 200, "GET", ME, token=pair["access_token"])

    logout = server.request("POST", LOGOUT, token=pair["access_token"], json_body={})
    assert logout.status == 204, detail(logout)
    logout_worker = server.served_by([logout])[logout.request_id]

    refused = assert_every_worker(server, 401, "GET", ME, token=pair["access_token"])
    others = set(server.served_by(refused).values()) - {logout_worker}
    assert len(others) >= (WORKERS - 1 if server.worker_pids() else 1), others
    assert_every_worker(server, 401, "POST", REFRESH, token=pair["refresh_token"])


def test_demotion_and_deactivation_apply_on_every_worker_at_once(server: Gunicorn) -> None:
    admin = token_pair(server, ADMIN)["access_token"]
    username = register(server)
    token = token_pair(server, username)["access_token"]
    user_id = server.request("GET", ME, token=token).json()["id"]

    def patch(body: dict[str, Any]) -> None:
        reply = server.request("PATCH", f"{USERS}/{user_id}", token=admin, json_body=body)
        assert reply.status == 200, detail(reply)

    patch({"roles": ["user", "admin"]})
    # Every worker has served the new admin (and, with Redis, keeps them in memory).
    assert_every_worker(server, 200, "GET", USERS, token=token)
    patch({"roles": ["user"]})
    assert_every_worker(server, 403, "GET", USERS, token=token)
    assert_every_worker(server, 200, "GET", ME, token=token)
    patch({"active": False})
    assert_every_worker(server, 401, "GET", ME, token=token)


def test_revocation_survives_a_restart(servers: dict[str, Gunicorn]) -> None:
    # Both servers restart together, so their graceful stops and boots overlap.
    revoked: dict[str, tuple[str, dict[str, Any], set[int]]] = {}
    for store, server in servers.items():
        username = register(server)
        pair = token_pair(server, username)
        logout = server.request("POST", LOGOUT, token=pair["access_token"], json_body={})
        assert logout.status == 204, f"{store}: {detail(logout)}"
        revoked[store] = (username, pair, server.worker_pids())

    restart_all(list(servers.values()))

    for store, server in servers.items():
        username, pair, before = revoked[store]
        assert not before & server.worker_pids(), f"{store}: the workers were not replaced"
        # The access token has not expired (600 s), so only the revocation can refuse it.
        assert_every_worker(server, 401, "GET", ME, token=pair["access_token"])
        assert_every_worker(server, 401, "POST", REFRESH, token=pair["refresh_token"])
        fresh = token_pair(server, username)
        me = server.request("GET", ME, token=fresh["access_token"])
        assert me.status == 200, f"{store}: {detail(me)}"
        assert me.json()["username"] == username


def test_replayed_refresh_token_kills_the_login_on_every_worker(server: Gunicorn) -> None:
    username = register(server)
    old = token_pair(server, username)
    rotated = server.request("POST", REFRESH, token=old["refresh_token"])
    assert rotated.status == 200, detail(rotated)
    new = rotated.json()
    assert server.request("GET", ME, token=new["access_token"]).status == 200

    # The first replay revokes the whole login; every later one, on any worker, is refused too.
    assert_every_worker(server, 401, "POST", REFRESH, token=old["refresh_token"])
    assert_every_worker(server, 401, "GET", ME, token=new["access_token"])
    assert_every_worker(server, 401, "POST", REFRESH, token=new["refresh_token"])


def test_failed_logins_are_throttled_across_workers(servers: dict[str, Gunicorn]) -> None:
    server = servers["redis"]
    username = register(server)

    # Ten wrong passwords, five at a time on fresh connections, so several workers count them.
    failures = server.burst(
        "POST",
        LOGIN,
        count=ACCOUNT_LIMIT,
        concurrency=5,
        json_body={"username": username, "password": "not the password"},
    )
    assert [reply.status for reply in failures] == [401] * ACCOUNT_LIMIT, [
        detail(reply) for reply in failures
    ]
    # However they were spread, no single worker saw ten failures unless all went to one, and
    # then the others saw none: a 429 from *every* worker below proves the count is shared.

    eleventh = login(server, username, "still not the password")
    assert eleventh.status == 429, detail(eleventh)
    assert eleventh.headers["content-type"].startswith(PROBLEM)

    # Even the right password is refused now, whichever worker is asked. (Few requests: the
    # per-address limit, 60 a minute, must not be what answers 429 here.)
    refused = assert_every_worker(
        server,
        429,
        "POST",
        LOGIN,
        count=12,
        json_body={"username": username, "password": PASSWORD},
    )
    for reply in [eleventh, *refused]:
        assert "account" in reply.json()["detail"], detail(reply)
        assert int(reply.headers["retry-after"]) > 0, reply.headers
