"""flaskyard.boot and flaskyard.ops without Docker: backoff, locks, commands, restart-workers."""

from __future__ import annotations

import http.server
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from flaskyard import boot, create_app
from flaskyard.config import load_settings
from flaskyard.devserver import free_port


class FakeClock:
    """A clock that only moves when ``sleep`` is called, so backoff tests take no time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def __call__(self) -> float:
        return self.now


def _refused() -> None:
    raise ConnectionError("no")


def _boot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m flaskyard.boot <args>``, its output as text."""
    return subprocess.run(  # noqa: S603
        [sys.executable, "-m", "flaskyard.boot", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_wait_for_backs_off_with_one_log_line_per_attempt(caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    calls = []

    def check() -> None:
        calls.append(clock.now)
        if len(calls) < 4:
            raise ConnectionError("connection refused")

    with caplog.at_level("INFO", logger="flaskyard.boot"):
        attempts = boot.wait_for("the thing", check, timeout=60, sleep=clock.sleep, clock=clock)
    assert attempts == 4
    assert calls == [0.0, 0.5, 1.5, 3.5]  # doubling delays
    waiting = [r.getMessage() for r in caplog.records if "waiting for the thing" in r.getMessage()]
    assert len(waiting) == 3
    assert "attempt 1, ConnectionError: connection refused" in waiting[0]
    assert "answered after 4 attempts" in caplog.text


def test_wait_for_is_bounded() -> None:
    clock = FakeClock()
    with pytest.raises(boot.BootError, match=r"Gave up waiting for X after \d+ attempts"):
        boot.wait_for("X", _refused, timeout=20, sleep=clock.sleep, clock=clock)
    assert clock.now <= 20


def test_delays_are_capped() -> None:
    clock = FakeClock()
    with pytest.raises(boot.BootError):
        boot.wait_for("X", _refused, timeout=60, sleep=clock.sleep, clock=clock)
    assert max(clock.sleeps) == boot.MAX_DELAY_SECONDS


def test_safe_url_hides_passwords() -> None:
    assert (
        boot.safe_url("postgresql+psycopg://u:s3cret@db:5432/x")
        == "postgresql+psycopg://u:***@db:5432/x"
    )
    assert boot.safe_url("redis://:pw@redis:6379/0") == "redis://:***@redis:6379/0"
    assert boot.safe_url("redis://redis:6379/0") == "redis://redis:6379/0"


def test_split_bind() -> None:
    assert boot.split_bind("0.0.0.0:5000") == ("0.0.0.0", 5000)  # noqa: S104
    assert boot.split_bind("[::1]:8000") == ("::1", 8000)
    with pytest.raises(boot.BootError):
        boot.split_bind("5000")


def test_dashboard_listens_on_5555_unless_told_otherwise() -> None:
    assert boot.role_bind("dashboard", "0.0.0.0:5000") == "0.0.0.0:5555"  # noqa: S104 - the image's
    assert boot.role_bind("dashboard", None) == "127.0.0.1:5555"
    assert boot.role_bind("dashboard", "[::]:5000") == "[::]:5555"
    # A GUNICORN_BIND with a port of its own was meant for this process: it stays.
    assert boot.role_bind("dashboard", "127.0.0.1:5181") == "127.0.0.1:5181"
    assert boot.role_bind("dashboard", "0.0.0.0:5000", "127.0.0.1:7001") == "127.0.0.1:7001"  # noqa: S104
    assert boot.role_bind("web", "0.0.0.0:5000", "127.0.0.1:7001") == "0.0.0.0:5000"  # noqa: S104
    with pytest.raises(boot.BootError):
        boot.role_bind("dashboard", None, "5555")


def test_dashboard_command_binds_its_own_port() -> None:
    image = load_settings({"APP_ENV": "testing", "GUNICORN_BIND": "0.0.0.0:5000"})  # noqa: S104
    command = boot.role_command("dashboard", image, [])
    assert command is not None
    assert command[command.index("--bind") + 1] == "0.0.0.0:5555"  # noqa: S104
    web = boot.role_command("web", image, [])
    assert web is not None and "--bind" not in web
    told = load_settings({"APP_ENV": "testing", "DASHBOARD_BIND": "127.0.0.1:6123"})
    command = boot.role_command("dashboard", told, [])
    assert command is not None and command[command.index("--bind") + 1] == "127.0.0.1:6123"


def test_dashboard_healthcheck_probes_its_own_port(monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), _Healthy)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("GUNICORN_BIND", "127.0.0.1:5000")
        monkeypatch.setenv("DASHBOARD_BIND", f"127.0.0.1:{port}")
        assert boot.healthcheck("dashboard") == 0
        monkeypatch.setenv("DASHBOARD_BIND", f"127.0.0.1:{free_port()}")
        assert boot.healthcheck("dashboard") == 1
    finally:
        server.shutdown()
        server.server_close()


class _Healthy(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


def test_default_workers_follow_cpus() -> None:
    assert boot.default_workers(1) == 3
    assert boot.default_workers(2) == 5
    assert boot.default_workers(64) == boot.MAX_DEFAULT_WORKERS
    assert boot.available_cpus() >= 1


def test_role_commands() -> None:
    settings = load_settings({"APP_ENV": "testing"})
    web = boot.role_command("web", settings, ["--log-level", "debug"])
    assert web is not None and web[-1] == "flaskyard:create_app()" and "--config" in web
    dashboard = boot.role_command("dashboard", settings, [])
    assert dashboard is not None and dashboard[-1] == "flaskyard.dashboard:create_dashboard_app()"
    assert boot.role_command("worker", settings, ["--burst"])[-2:] == ["worker", "--burst"]  # type: ignore[index]
    assert boot.role_command("scheduler", settings, [])[-1] == "scheduler"  # type: ignore[index]
    assert boot.role_command("migrate", settings, []) is None
    granian = load_settings(
        {"APP_ENV": "testing", "SERVER": "granian", "GUNICORN_BIND": "127.0.0.1:7000"}
    )
    try:
        command = boot.server_command(granian, "flaskyard:create_app")
    except boot.BootError:
        pytest.skip("granian is not installed here")
    assert command[command.index("--port") + 1] == "7000" and "--factory" in command


def test_sqlite_migration_lock_serialises(tmp_path: Path) -> None:
    engine = sa.create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    order: list[str] = []

    def hold(name: str, seconds: float) -> None:
        with boot.migration_lock(engine):
            order.append(f"{name}+")
            time.sleep(seconds)
            order.append(f"{name}-")

    first = threading.Thread(target=hold, args=("a", 0.3))
    first.start()
    time.sleep(0.1)
    hold("b", 0)
    first.join()
    assert order == ["a+", "a-", "b+", "b-"]
    engine.dispose()


def test_boot_migrates_sqlite_and_says_which_revision(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "APP_ENV": "development",
        "INSTANCE_DIR": str(tmp_path / "instance"),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'boot.db'}",
        "LOG_FORMAT": "text",
    }
    env.pop("REDIS_URL", None)
    result = _boot("migrate", env=env)
    assert result.returncode == 0, result.stderr
    assert "database schema at revision" in result.stdout
    # Alembic logs through the app's handler (stdout, in the configured format).
    assert "Running upgrade" in result.stdout


def test_boot_refuses_a_bad_configuration_in_one_sentence() -> None:
    result = _boot("web", env={**os.environ, "APP_ENV": "production", "SECRET_KEY": "changeme"})
    assert result.returncode == 1
    assert "flaskyard.boot:" in result.stderr and "SECRET_KEY" in result.stderr


def test_other_commands_are_executed_as_given() -> None:
    result = _boot("sh", "-c", "echo $0 ran")
    assert result.stdout.strip() == "sh ran"


# --- restart-workers ---------------------------------------------------------------------------


@pytest.fixture
def cli(tmp_path: Path) -> Any:
    def run(pid_file: Path) -> Any:
        app = create_app(
            {
                "APP_ENV": "testing",
                "DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
                "INSTANCE_DIR": tmp_path / "instance",
                "GUNICORN_PID_FILE": pid_file,
                "REDIS_URL": None,
            },
            environ={"APP_ENV": "testing"},
        )
        return app.test_cli_runner().invoke(args=["restart-workers"])

    return run


def test_restart_workers_without_a_pid_file(cli: Any, tmp_path: Path) -> None:
    result = cli(tmp_path / "none.pid")
    assert result.exit_code == 1
    assert "No pid file at" in result.output


def test_restart_workers_with_a_stale_pid_file(cli: Any, tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    gone.wait()
    pid_file = tmp_path / "g.pid"
    pid_file.write_text(f"{gone.pid}\n")
    result = cli(pid_file)
    assert result.exit_code == 1
    assert "is gone; the pid file is stale" in result.output


def test_restart_workers_refuses_a_pid_that_is_not_a_server(cli: Any, tmp_path: Path) -> None:
    pid_file = tmp_path / "g.pid"
    pid_file.write_text(f"{os.getpid()}\n")  # pytest: alive, and not gunicorn
    result = cli(pid_file)
    assert result.exit_code == 1
    assert "is not a web server" in result.output


def test_restart_workers_sends_sighup(cli: Any, tmp_path: Path) -> None:
    # A stand-in "gunicorn" process that reports the SIGHUP it receives.
    script = tmp_path / "gunicorn"
    script.write_text(
        "import signal, sys, time\n"
        "signal.signal(signal.SIGHUP, lambda *a: (print('hup', flush=True), sys.exit(0)))\n"
        "print('up', flush=True)\n"
        "time.sleep(30)\n"
    )
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)  # noqa: S603
    assert server.stdout is not None and server.stdout.readline().strip() == "up"
    pid_file = tmp_path / "g.pid"
    pid_file.write_text(f"{server.pid}\n")
    result = cli(pid_file)
    assert result.exit_code == 0, result.output
    assert server.stdout.readline().strip() == "hup"
    server.wait(10)
    server.stdout.close()


# A fresh checkout that the service user cannot write (systemd: ProtectSystem=strict)

_BOOT_AND_ASK_IN_GERMAN = """
import json
import flaskyard
from flaskyard.boot import main
status = main(["migrate"])
from flaskyard import create_app
client = create_app().test_client()
answer = client.post("/api/v1/auth/register", json={}, headers={"Accept-Language": "de"})
print(json.dumps({"boot": status, "title": answer.get_json()["title"], "from": flaskyard.__file__}))
"""


def _read_only_copy(root: Path) -> Path:
    """A copy of the package as a fresh checkout has it (no .mo files), then read-only."""
    checkout = root / "opt" / "flaskyard"
    shutil.copytree(
        Path(boot.__file__).parent.parent,
        checkout / "flaskyard",
        ignore=shutil.ignore_patterns("__pycache__", "*.mo", "dist"),
    )
    for path in [checkout, *checkout.rglob("*")]:
        mode = path.stat().st_mode
        path.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return checkout


#: As root, permissions do not stop writes: mount the checkout read-only in a mount namespace
#: of its own instead, as systemd's ProtectSystem=strict does.
_READ_ONLY_MOUNT = 'mount --bind "$0" "$0" && mount -o remount,ro,bind "$0" "$0" && exec "$@"'


def _read_only(checkout: Path) -> list[str]:
    """The command prefix under which ``checkout`` cannot be written."""
    if os.geteuid() != 0:
        return []  # the copy's permissions already refuse this user
    unshare = shutil.which("unshare")
    probe = [unshare or "unshare", "--mount", "sh", "-c", _READ_ONLY_MOUNT, str(checkout), "true"]
    if unshare is None or subprocess.run(probe, capture_output=True, check=False).returncode:  # noqa: S603
        pytest.skip("running as root without a private mount namespace to make a copy read-only")
    return probe[:-1]


@pytest.fixture
def open_root() -> Iterator[Path]:
    """A scratch root with the absolute paths a unit would name."""
    root = Path(tempfile.mkdtemp(prefix="flaskyard-ro-"))
    root.chmod(0o755)
    yield root
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IWUSR)
    shutil.rmtree(root)


def test_a_read_only_checkout_boots_and_compiles_translations_into_the_instance(
    open_root: Path,
) -> None:
    checkout = _read_only_copy(open_root)
    state = open_root / "var" / "lib" / "flaskyard"
    state.mkdir(parents=True)
    command = [*_read_only(checkout), sys.executable, "-c", _BOOT_AND_ASK_IN_GERMAN]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(state),
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "INSTANCE_DIR": str(state / "instance"),
        "DATABASE_URL": f"sqlite:///{state / 'flaskyard.db'}",
        "TOKEN_BLOCKLIST": "database",
        "LOG_FORMAT": "text",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    # The checkout's directory comes first on sys.path (-c puts the working directory there).
    result = subprocess.run(  # noqa: S603 - our own interpreter and script
        command, cwd=checkout, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    answer = json.loads(result.stdout.strip().splitlines()[-1])
    assert answer["from"] == str(checkout / "flaskyard" / "__init__.py")
    assert (answer["boot"], answer["title"]) == (0, "Validierungsfehler"), result.stdout
    assert not list(checkout.rglob("*.mo"))
    compiled = state / "instance" / "translations" / "de" / "LC_MESSAGES" / "messages.mo"
    assert compiled.is_file()
    assert f"compiled {compiled}" in result.stdout + result.stderr
