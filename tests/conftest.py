"""Fixtures: ``app``, ``client``, ``runner``, ``db`` and friends, on every reachable database."""

from __future__ import annotations

import os
import secrets
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_sqlalchemy import SQLAlchemy

from flaskyard import create_app
from flaskyard.extensions import db as _db
from flaskyard.extensions import ensure_migrate
from tests import backends

_probes: dict[str, backends.Probe] = {}
_redis: backends.RedisServer | None = None
_backend_of: dict[str, str] = {}
_outcomes: dict[str, Counter[str]] = {}


def pytest_configure(config: pytest.Config) -> None:
    global _redis
    tmp = Path(config.rootpath) / ".pytest_cache" / "services"
    tmp.mkdir(parents=True, exist_ok=True)
    missing = []
    for name in backends.DATABASE_BACKENDS:
        _probes[name] = backends.probe_database(name)
        if not _probes[name].ok and name in backends.required():
            missing.append(_probes[name].reason)
    _redis = backends.RedisServer(tmp)
    if not _redis.url and "redis" in backends.required():
        missing.append(_redis.reason)
    if "chromium" in backends.required() and not shutil.which("chromium"):
        missing.append("Chromium is not installed (apt-get install chromium)")
    if missing:
        raise pytest.UsageError("Required backend unavailable: " + "; ".join(missing))


def pytest_unconfigure(config: pytest.Config) -> None:
    if _redis is not None:
        _redis.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "backend" in callspec.params:
            _backend_of[item.nodeid] = callspec.params["backend"]
        if "redis_url" in getattr(item, "fixturenames", ()):
            _backend_of.setdefault(item.nodeid, "redis")


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        name = _backend_of.get(report.nodeid)
        if name:
            _outcomes.setdefault(name, Counter())[report.outcome] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    terminalreporter.section("backends")
    for name in (*backends.DATABASE_BACKENDS, "redis"):
        counts = _outcomes.get(name, Counter())
        label = backends.LABELS[name]
        if name == "redis":
            where = (
                (" (embedded)" if _redis and _redis.embedded else "")
                if _redis and _redis.url
                else ""
            )
            status = (
                f"ran{where}"
                if _redis and _redis.url
                else f"SKIPPED: {_redis.reason if _redis else ''}"
            )
        else:
            status = "ran" if _probes[name].ok else f"SKIPPED: {_probes[name].reason}"
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        terminalreporter.write_line(f"{label:14} {status}{' - ' + summary if summary else ''}")
    browser = shutil.which("chromium")
    terminalreporter.write_line(
        f"{'Chromium':14} {'ran (' + browser + ')' if browser else 'SKIPPED: not installed'}"
    )


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis URL for tests that need one (skips when none is reachable)."""
    if _redis is None or not _redis.url:
        pytest.skip(_redis.reason if _redis else "Redis not configured")
    return _redis.url


def _param(name: str) -> Any:
    return pytest.param(name, marks=getattr(pytest.mark, name), id=name)


@pytest.fixture(scope="session", params=[_param(n) for n in backends.DATABASE_BACKENDS])
def backend(request: pytest.FixtureRequest) -> str:
    """The database backend this test runs on."""
    name: str = request.param
    if not _probes[name].ok:
        pytest.skip(_probes[name].reason)
    return name


@pytest.fixture(scope="session")
def database_url(backend: str, services_dir: Path) -> Iterator[str]:
    """A migrated database on ``backend``, created once per test session."""
    from flask_migrate import upgrade

    # One database per test run, so two runs on the same servers never collide.
    name = f"flaskyard_test_{os.getpid()}"
    url = backends.fresh_database_url(backend, name, services_dir)
    app = create_app(base_config(url), environ={"APP_ENV": "testing"})
    ensure_migrate(app)
    with app.app_context():
        upgrade()
        _db.engine.dispose()
    yield url
    backends.drop_database(backend, name, services_dir)


def base_config(database_url: str, **extra: Any) -> dict[str, Any]:
    """Settings every test app shares; tests add their own on top."""
    config: dict[str, Any] = {
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "JWT_SECRET_KEY": secrets.token_urlsafe(32),
        "LOG_LEVEL": "WARNING",
        # Rate-limit counters live in the shared Redis: each app gets its own.
        "RATELIMIT_KEY_PREFIX": f"test-{secrets.token_hex(8)}",
    }
    if _redis is not None and _redis.url:
        config["REDIS_URL"] = _redis.url
    config.update(extra)
    return config


def _empty_tables() -> None:
    with _db.engine.begin() as connection:
        for table in reversed(_db.metadata.sorted_tables):
            connection.execute(table.delete())


@pytest.fixture
def app_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """The overrides ``app`` is built from; tests may change them before asking for ``app``."""
    return base_config(
        database_url, INSTANCE_DIR=tmp_path / "instance", UPLOAD_DIR=tmp_path / "uploads"
    )


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[APIFlask]:
    """A fresh app on an empty, migrated database."""
    application = create_app(app_config, environ={"APP_ENV": "testing"})
    with application.app_context():
        _empty_tables()
    yield application
    with application.app_context():
        _db.session.remove()
        _db.engine.dispose()


@pytest.fixture
def db(app: APIFlask) -> Iterator[SQLAlchemy]:
    """The database extension, inside an app context."""
    with app.app_context():
        yield _db
        _db.session.rollback()


@pytest.fixture
def client(app: APIFlask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: APIFlask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def make_user(db: SQLAlchemy) -> Any:
    """Create and commit a user: ``make_user("alice", roles=("user", "admin"))``."""
    from flaskyard.users.services import create_user

    def make(username: str = "alice", *, password: str = "correct horse battery", **kw: Any) -> Any:  # noqa: S107
        user = create_user(
            session=db.session,
            username=username,
            email=kw.pop("email", f"{username}@example.com"),
            password=password,
            **kw,
        )
        db.session.commit()
        return user

    return make


def count_rows(table: str) -> int:
    """How many rows ``table`` holds, in the current app's database."""
    return int(_db.session.scalar(sa.text(f"SELECT COUNT(*) FROM {table}")) or 0)  # noqa: S608
