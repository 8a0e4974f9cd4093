"""Fixtures for tests that run the built image: containers, fresh databases, an API client.

Tests that use ``image`` (directly or through ``containers``) run only when ``FLASKYARD_IMAGE``
names a built image (CI builds one and sets it);
otherwise they are skipped, and ``REQUIRE_DOCKER=1`` turns that skip into a failure. Every
container uses the host's network and binds 127.0.0.1 on a free port; PostgreSQL, MariaDB and
Redis are the machine's own (``TEST_POSTGRES_URL``, ``TEST_MYSQL_URL``, ``CONTAINER_REDIS_URL``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

import flaskyard
from flaskyard.devserver import free_port
from tests.support.backends import ADMIN_URLS

REDIS_URL = os.environ.get("CONTAINER_REDIS_URL", "redis://127.0.0.1:6379/13")
LABEL = "flaskyard-test=1"
BOOT_TIMEOUT = 90.0


def _required() -> bool:
    return os.environ.get("REQUIRE_DOCKER", "") not in ("", "0", "false")


@pytest.fixture(scope="session")
def image() -> str:
    """The image under test, from ``FLASKYARD_IMAGE``."""
    name = os.environ.get("FLASKYARD_IMAGE", "")
    problem = ""
    if not name:
        problem = "FLASKYARD_IMAGE is not set (build the image and name it to run these)"
    elif shutil.which("docker") is None:
        problem = "the docker command is not installed"
    else:
        found = subprocess.run(
            ["docker", "image", "inspect", name], capture_output=True, check=False, timeout=30
        )
        if found.returncode != 0:
            problem = f"docker has no image {name!r} (or the engine is not running)"
    if problem:
        if _required():
            pytest.fail(f"REQUIRE_DOCKER=1 but {problem}.")
        pytest.skip(f"Container tests skipped: {problem}.")
    return name


def docker(
    *args: str, check: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run a docker command and return its result (text)."""
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if check and result.returncode != 0:
        raise AssertionError(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result


@dataclass
class Container:
    """A running container of the image, serving (when it serves) on ``port``."""

    name: str
    port: int

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def logs(self) -> str:
        result = docker("logs", self.name, check=False)
        return result.stdout + result.stderr

    def state(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(docker("inspect", self.name).stdout)[0]
        return data

    def running(self) -> bool:
        return bool(self.state()["State"]["Running"])

    def exec(self, *command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return docker("exec", self.name, *command, check=check)


@dataclass
class Containers:
    """Starts containers for one test and removes them (and their volumes) afterwards."""

    image: str
    started: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)

    def run(
        self,
        *command: str,
        env: dict[str, str] | None = None,
        options: tuple[str, ...] = (),
        port: int | None = None,
    ) -> Container:
        """``docker run -d`` the image with host networking, bound to 127.0.0.1:<port>."""
        port = port or free_port()
        name = f"flaskyard-test-{uuid.uuid4().hex[:10]}"
        args = ["run", "-d", "--name", name, "--label", LABEL, "--network", "host"]
        args += ["-e", f"GUNICORN_BIND=127.0.0.1:{port}", "-e", "GUNICORN_WORKERS=2"]
        args += ["-e", "BOOT_WAIT_TIMEOUT=120"]
        for key, value in (env or {}).items():
            args += ["-e", f"{key}={value}"]
        args += [*options, self.image, *command]
        self.started.append(name)
        docker(*args)
        return Container(name, port)

    def volume(self) -> str:
        name = f"flaskyard-test-{uuid.uuid4().hex[:10]}"
        docker("volume", "create", "--label", LABEL, name)
        self.volumes.append(name)
        return name

    def cleanup(self) -> None:
        for name in self.started:
            docker("rm", "-f", "-v", name, check=False)
        for name in self.volumes:
            docker("volume", "rm", "-f", name, check=False)


@pytest.fixture
def containers(image: str, request: pytest.FixtureRequest) -> Iterator[Containers]:
    """Start containers with ``containers.run(...)``; on failure their logs are printed."""
    pool = Containers(image)
    yield pool
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        for name in pool.started:
            print(f"\n--- logs of {name} ---\n{Container(name, 0).logs()[-4000:]}")
    pool.cleanup()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# --- databases -------------------------------------------------------------------------------


def _fresh_database(admin_url: str, prefix: str) -> Iterator[str]:
    url = sa.make_url(admin_url)
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    options: dict[str, Any] = {"isolation_level": "AUTOCOMMIT", "poolclass": sa.pool.NullPool}
    engine = sa.create_engine(url, **options)
    try:
        with engine.connect() as connection:
            connection.execute(sa.text(f"CREATE DATABASE {name}"))
    except sa.exc.OperationalError as exc:
        engine.dispose()
        message = f"{admin_url} is not reachable: {str(exc).splitlines()[0]}"
        if _required():
            pytest.fail(message)
        pytest.skip(message)
    yield url.set(database=name).render_as_string(hide_password=False)
    force = " WITH (FORCE)" if url.get_backend_name() == "postgresql" else ""
    with engine.connect() as connection:
        connection.execute(sa.text(f"DROP DATABASE IF EXISTS {name}{force}"))
    engine.dispose()


@pytest.fixture
def postgres_url(containers: Containers) -> Iterator[str]:
    """A new, empty PostgreSQL database on the host, dropped after the test's containers."""
    yield from _fresh_database(ADMIN_URLS["postgres"], "fy_ct")


@pytest.fixture
def mysql_url(containers: Containers) -> Iterator[str]:
    """A new, empty MariaDB/MySQL database on the host, dropped after the test's containers."""
    yield from _fresh_database(ADMIN_URLS["mysql"], "fy_ct")


def scalar(url: str, query: str) -> Any:
    """One value from the database at ``url``."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            return connection.scalar(sa.text(query))
    finally:
        engine.dispose()


def migration_heads() -> int:
    """How many migration scripts the package ships (each logs one "Running upgrade")."""
    versions = Path(flaskyard.__file__).with_name("migrations") / "versions"
    return len(list(versions.glob("*.py")))


# --- secrets and environment ------------------------------------------------------------------


@pytest.fixture
def secrets_dir(tmp_path: Path) -> Path:
    """A folder of secret files, readable by the image's uid (mount it at /run/secrets)."""
    folder = tmp_path / "secrets"
    folder.mkdir()
    for name in ("secret_key", "jwt_secret_key"):
        (folder / name).write_text(secrets.token_urlsafe(48) + "\n", encoding="utf-8")
    folder.chmod(0o755)
    for path in folder.iterdir():
        path.chmod(0o644)
    return folder


def app_env(database_url: str, secrets_dir: Path) -> tuple[dict[str, str], tuple[str, ...]]:
    """Environment and ``docker run`` options for a production container with file secrets."""
    env = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "SECRET_KEY": "DOCKER-SECRET->secret_key",
        "JWT_SECRET_KEY_FILE": "/run/secrets/jwt_secret_key",
        "PUBLIC_URL": "http://127.0.0.1",
        # The tests sign up fresh accounts and write at once, without confirming the address.
        "REQUIRE_VERIFIED_EMAIL": "false",
    }
    return env, ("-v", f"{secrets_dir}:/run/secrets:ro")


# --- HTTP ------------------------------------------------------------------------------------


def http(
    method: str,
    url: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    data: bytes | None = None,
    timeout: float = 15,
) -> tuple[int, Any]:
    """One request; returns (status, parsed JSON or text). Connection errors raise OSError."""
    sent = dict(headers or {})
    if body is not None:
        data = json.dumps(body).encode()
        sent["Content-Type"] = "application/json"
    if token:
        sent["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=sent)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
        exc.close()
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def wait_ready(container: Container, timeout: float = BOOT_TIMEOUT, path: str = "/readyz") -> float:
    """Wait until ``path`` answers 200; return the seconds it took. Fails if the container dies."""
    started = time.monotonic()
    last = ""
    while time.monotonic() - started < timeout:
        try:
            status, body = http("GET", container.base + path, timeout=3)
            if status == 200:
                return time.monotonic() - started
            last = f"{status} {body}"
        except OSError as exc:
            last = str(exc)
        if not container.running():
            raise AssertionError(f"{container.name} exited:\n{container.logs()[-3000:]}")
        time.sleep(0.25)
    raise AssertionError(
        f"{container.name} not ready in {timeout} s ({last}):\n{container.logs()[-3000:]}"
    )


def wait_until(predicate: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``predicate`` until it is true or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.25)
    raise AssertionError(f"Timed out after {timeout} s waiting for {what}.")


def sign_up(base: str) -> str:
    """Register a fresh user and return an access token."""
    name = f"u{uuid.uuid4().hex[:10]}"
    password = secrets.token_urlsafe(16)
    status, body = http(
        "POST",
        f"{base}/api/v1/auth/register",
        {"username": name, "email": f"{name}@example.com", "password": password},
    )
    assert status == 201, body
    status, body = http(
        "POST", f"{base}/api/v1/auth/login", {"username": name, "password": password}
    )
    assert status == 200, body
    token: str = body["access_token"]
    return token


def start_demo_job(base: str, token: str, **params: Any) -> dict[str, Any]:
    """Enqueue a demo job with ``params`` (seconds, steps, fail_at); return its first state."""
    status, job = http(
        "POST", f"{base}/api/v1/jobs", {"type": "demo", "params": params}, token=token
    )
    assert status == 202, job
    started: dict[str, Any] = job
    return started


def run_demo_job(
    base: str, token: str, *, seconds: float, steps: int, timeout: float = 60
) -> dict[str, Any]:
    """Start a demo job, poll it until it ends; return the last state and the progress seen."""
    job = start_demo_job(base, token, seconds=seconds, steps=steps)
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status, job = http("GET", f"{base}/api/v1/jobs/{job['id']}", token=token)
        assert status == 200, job
        if not seen or seen[-1] != job["progress"]:
            seen.append(job["progress"])
        if job["status"] in ("finished", "failed", "canceled"):
            ended: dict[str, Any] = {**job, "progress_seen": seen}
            return ended
        time.sleep(0.2)
    raise AssertionError(f"Job {job['id']} did not end in {timeout} s: {job}")


# --- the compose stack -------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stack(image: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """compose.yaml's stack (CI overlay), shared by the compose and scale-out tests.

    The service images are built once here; each test brings up what it needs with ``up``.
    """
    # stack.py builds on this module's helpers, so it is imported once they exist.
    from tests.containers.stack import Stack

    project = Stack(image, tmp_path_factory.mktemp("stack"))
    started = time.monotonic()
    project("--profile", "mysql", "build", "db", "redis", "mysql", timeout=900)
    print(
        f"\nservice images (postgres, redis, mariadb) built in {time.monotonic() - started:.0f} s"
    )
    yield project
    print(project.logs()[-6000:])
    project("--profile", "mysql", "down", "-v", "--remove-orphans", check=False)
    for network in project.networks():  # a test that failed before its own check
        docker("network", "rm", network, check=False)
