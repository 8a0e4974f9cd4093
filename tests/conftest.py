"""Fixtures: ``app``, ``client``, ``runner``, ``db`` and friends, on every reachable database."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient, FlaskCliRunner
from flask_migrate import upgrade
from flask_sqlalchemy import SQLAlchemy

from flaskyard import create_app
from flaskyard.extensions import db as _db
from flaskyard.extensions import ensure_migrate
from flaskyard.users.models import User
from flaskyard.users.services import ensure_roles
from tests.support import backends
from tests.support.api import PASSWORD
from tests.support.apps import base_config
from tests.support.factories import UserFactory
from tests.support.factories import make_user as _make_user
from tests.support.live_api import live_api  # noqa: F401 - one server for the live-API tests
from tests.support.outages import missing_binaries
from tests.support.summary import SECTIONS

_probes: dict[str, backends.Probe] = {}
_backend_of: dict[str, str] = {}
_outcomes: dict[str, Counter[str]] = {}


def pytest_configure(config: pytest.Config) -> None:
    tmp = Path(config.rootpath) / ".pytest_cache" / "services"
    tmp.mkdir(parents=True, exist_ok=True)
    missing = []
    for name in backends.DATABASE_BACKENDS:
        _probes[name] = backends.probe_database(name)
        if not _probes[name].ok and name in backends.required():
            missing.append(_probes[name].reason)
    redis = backends.start_session_redis(tmp)
    if not redis.url and "redis" in backends.required():
        missing.append(redis.reason)
    if "chaos" in backends.required() and (reason := missing_binaries()):
        missing.append(f"chaos tests cannot start their own servers: {reason}")
    if "chromium" in backends.required() and not shutil.which("chromium"):
        missing.append("Chromium is not installed (apt-get install chromium)")
    if missing:
        raise pytest.UsageError("Required backend unavailable: " + "; ".join(missing))


def pytest_unconfigure(config: pytest.Config) -> None:
    redis = backends.session_redis()
    if redis is not None:
        redis.stop()


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
    redis = backends.session_redis()
    terminalreporter.section("backends")
    for name in (*backends.DATABASE_BACKENDS, "redis"):
        counts = _outcomes.get(name, Counter())
        label = backends.LABELS[name]
        if name == "redis":
            where = (
                (" (embedded)" if redis and redis.embedded else "") if redis and redis.url else ""
            )
            status = (
                f"ran{where}"
                if redis and redis.url
                else f"SKIPPED: {redis.reason if redis else ''}"
            )
        else:
            status = "ran" if _probes[name].ok else f"SKIPPED: {_probes[name].reason}"
        summary = ", ".join(f"{n} {outcome}" for outcome, n in sorted(counts.items()))
        terminalreporter.write_line(f"{label:14} {status}{' - ' + summary if summary else ''}")
    browser = shutil.which("chromium")
    terminalreporter.write_line(
        f"{'Chromium':14} {'ran (' + browser + ')' if browser else 'SKIPPED: not installed'}"
    )
    reason = missing_binaries()
    terminalreporter.write_line(
        f"{'Own servers':14} {'SKIPPED: ' + reason if reason else 'can start (chaos tests)'}"
    )
    for section, lines in SECTIONS.items():
        terminalreporter.section(section)
        for line in lines:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def services_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("services")


@pytest.fixture(scope="session")
def redis_url() -> str:
    """A Redis URL for tests that need one (skips when none is reachable)."""
    redis = backends.session_redis()
    if redis is None or not redis.url:
        pytest.skip(redis.reason if redis else "Redis not configured")
    return redis.url


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
def make_user(db: SQLAlchemy) -> UserFactory:
    """Create and commit a user: ``make_user("alice", roles=("user", "admin"))``."""

    def make(
        username: str = "alice",
        *,
        password: str = PASSWORD,
        email: str | None = None,
        roles: Iterable[str] = ("user",),
        email_verified: bool = False,
    ) -> User:
        user = _make_user(
            db.session,
            username,
            password=password,
            email=email,
            roles=roles,
            email_verified=email_verified,
        )
        db.session.commit()
        return user

    return make


@pytest.fixture
def roles(db: SQLAlchemy) -> None:
    """The default ``user`` and ``admin`` roles."""
    ensure_roles(session=db.session)
    db.session.commit()
