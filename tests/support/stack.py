"""A live development stack for browser tests: gunicorn, an RQ worker, Redis and a SQLite file.

Everything is a real process started the way an operator would: ``flask db upgrade``, ``flask
seed``, ``flask translate compile`` and ``flask create-admin --password-file``, then gunicorn
with the repository's ``gunicorn.conf.py`` and one ``flask worker``, all in development mode
(so the development mailbox exists) and on loopback.
"""

from __future__ import annotations

import secrets
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from redis import Redis
from rq import Worker

from flaskyard.devserver import free_port
from tests.support.servers import ROOT, Gunicorn, clean_environ, flask_cli

#: Small, so an oversize upload is quick to send.
MAX_UPLOAD_BYTES = 1_000_000
WORKER_READY_SECONDS = 30.0
WORKER_STOP_SECONDS = 15.0


@dataclass
class LiveStack:
    """A running web server and worker, and the administrator ``flask create-admin`` made."""

    url: str
    env: dict[str, str]
    web: Gunicorn
    worker: subprocess.Popen[bytes]
    worker_log: Path
    admin_username: str
    admin_password: str

    def logs(self) -> str:
        """The tails of the server's and the worker's logs, for failure messages."""
        worker = self.worker_log.read_text(errors="replace").splitlines()[-40:]
        return f"--- gunicorn ---\n{self.web.log_tail()}\n--- worker ---\n" + "\n".join(worker)


def _wait_for_worker(redis_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    """Until the worker process has registered with Redis (it is polling its queues)."""
    deadline = time.monotonic() + WORKER_READY_SECONDS
    connection = Redis.from_url(redis_url)
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError(
                    f"flask worker exited {process.returncode}:\n{log.read_text(errors='replace')}"
                )
            if any(worker.pid == process.pid for worker in Worker.all(connection=connection)):
                return
            time.sleep(0.1)
    finally:
        connection.close()
    raise RuntimeError(f"flask worker did not register within {WORKER_READY_SECONDS:g} s")


@contextmanager
def live_stack(
    directory: Path, redis_url: str, settings: Mapping[str, str] | None = None
) -> Iterator[LiveStack]:
    """Start the stack with its files in ``directory``; stop every process afterwards."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = clean_environ(
        {
            "APP_ENV": "development",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "JWT_SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": f"sqlite:///{directory / 'flaskyard.db'}",
            "REDIS_URL": redis_url,
            "INSTANCE_DIR": str(directory / "instance"),
            "UPLOAD_DIR": str(directory / "uploads"),
            "PUBLIC_URL": url,
            "MAX_UPLOAD_BYTES": str(MAX_UPLOAD_BYTES),
            # Its own rate-limit counters: the shared test Redis outlives this stack.
            "RATELIMIT_KEY_PREFIX": f"stack-{uuid.uuid4().hex}",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            # (Job pages hold an event stream per running job; streams hold no thread.)
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "8",
            "GUNICORN_PID_FILE": str(directory / "gunicorn.pid"),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
            **(settings or {}),
        }
    )
    flask_cli(env, "db", "upgrade")
    flask_cli(env, "seed")
    flask_cli(env, "translate", "compile")
    admin_password = secrets.token_urlsafe(16)
    password_file = directory / "admin-password"
    password_file.write_text(admin_password + "\n", encoding="utf-8")
    password_file.chmod(0o600)
    admin = ("root", "root@example.com")
    flask_cli(env, "create-admin", *admin, "--password-file", str(password_file))

    web = Gunicorn(env, directory / "gunicorn.log")
    worker_log = directory / "worker.log"
    worker: subprocess.Popen[bytes] | None = None
    try:
        web.start()
        with worker_log.open("wb") as log:
            worker = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "flaskyard", "worker"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        web.wait_ready()
        _wait_for_worker(redis_url, worker, worker_log)
        yield LiveStack(url, env, web, worker, worker_log, "root", admin_password)
    finally:
        if worker is not None and worker.poll() is None:
            worker.terminate()
            try:
                worker.wait(timeout=WORKER_STOP_SECONDS)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
        web.stop()
