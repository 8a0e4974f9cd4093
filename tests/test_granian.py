"""The app served by granian (``SERVER=granian``): probes, a signed-in request and a job's stream.

A real granian process (one worker, four blocking threads) on loopback, SQLite and the test
Redis; the job runs in a burst worker while the event stream is read through granian, so the
one thing a WSGI server can get wrong with it, a response that streams, is checked end to end.
"""

from __future__ import annotations

import http.client
import json
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flaskyard.devserver import free_port
from tests.support.servers import clean_environ, flask_cli

pytestmark = [pytest.mark.slow, pytest.mark.redis]
PASSWORD = "correct horse battery staple"


class Granian:
    """One granian process and what it takes to talk to it."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        binary = Path(sys.executable).parent / "granian"
        if not binary.exists():
            pytest.skip("granian is not installed here")
        self._log = log.open("wb")
        self.process = subprocess.Popen(
            [
                str(binary),
                "--interface",
                "wsgi",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--blocking-threads",
                "4",
                "--no-ws",
                "flaskyard:create_app",
            ],  # fmt: skip
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def request(
        self, method: str, path: str, *, body: Any = None, token: str | None = None
    ) -> tuple[int, dict[str, str], bytes]:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        try:
            connection.request(
                method, path, body=None if body is None else json.dumps(body), headers=headers
            )
            response = connection.getresponse()
            headers_in = {name.lower(): value for name, value in response.getheaders()}
            return response.status, headers_in, response.read()
        finally:
            connection.close()

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "granian exited while starting"
            try:
                if self.request("GET", "/healthz")[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError("granian did not answer /healthz within 60 s")

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=15)
        self._log.close()


@pytest.fixture(scope="module")
def served(
    redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Granian, dict[str, str]]]:
    tmp = tmp_path_factory.mktemp("granian")
    env = clean_environ(
        {
            "APP_ENV": "testing",
            "DATABASE_URL": f"sqlite:///{tmp / 'granian.db'}",
            "REDIS_URL": redis_url,
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "RATELIMIT_KEY_PREFIX": f"granian-{secrets.token_hex(8)}",
            "REQUIRE_VERIFIED_EMAIL": "false",
            "INSTANCE_DIR": str(tmp / "instance"),
            "UPLOAD_DIR": str(tmp / "uploads"),
            "LOG_LEVEL": "WARNING",
        }
    )
    flask_cli(env, "db", "upgrade")
    server = Granian(env, tmp / "granian.log")
    try:
        server.wait_ready()
        yield server, env
    finally:
        server.stop()


def _token(server: Granian) -> str:
    name = f"gr{secrets.token_hex(6)}"
    status, _, body = server.request(
        "POST",
        "/api/v1/auth/register",
        body={"username": name, "email": f"{name}@example.com", "password": PASSWORD},
    )
    assert status == 201, body
    status, _, body = server.request(
        "POST", "/api/v1/auth/login", body={"username": name, "password": PASSWORD}
    )
    assert status == 200, body
    token: str = json.loads(body)["access_token"]
    return token


def test_probes_and_a_signed_in_request(served: tuple[Granian, dict[str, str]]) -> None:
    server, _env = served
    for _ in range(3):  # the first through Flask, then answered before it
        status, headers, body = server.request("GET", "/healthz")
        assert (status, json.loads(body)) == (200, {"status": "ok"})
        assert headers["x-content-type-options"] == "nosniff"
    token = _token(server)
    for _ in range(2):
        status, _, body = server.request("GET", "/api/v1/users/me", token=token)
        assert status == 200, body
    assert server.request("GET", "/api/v1/users/me")[0] == 401


def test_a_job_event_stream_is_delivered_as_it_happens(
    served: tuple[Granian, dict[str, str]],
) -> None:
    server, env = served
    token = _token(server)
    status, _, body = server.request(
        "POST",
        "/api/v1/jobs",
        body={"type": "demo", "params": {"seconds": 1, "steps": 4}},
        token=token,
    )
    assert status == 202, body
    job_id = json.loads(body)["id"]

    events: list[dict[str, Any]] = []
    ended = threading.Event()

    def read() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
        try:
            connection.request(
                "GET", f"/api/v1/jobs/{job_id}/events", headers={"Authorization": f"Bearer {token}"}
            )
            response = connection.getresponse()
            assert response.status == 200
            assert response.getheader("Content-Type", "").startswith("text/event-stream")
            for raw in response:
                line = raw.decode().strip()
                if line.startswith("data:"):
                    events.append(json.loads(line.removeprefix("data:")))
            ended.set()  # the server closed the stream
        finally:
            connection.close()

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    flask_cli(env, "worker", "--burst", timeout=120)
    assert ended.wait(60), f"the stream did not end; events so far: {events}"
    reader.join(5)
    statuses = [event["status"] for event in events]
    assert statuses[-1] == "finished", statuses
    assert events[-1]["progress"] == 100
    progress = [event["progress"] for event in events]
    assert progress == sorted(progress)  # in order, as they happened
