"""Event streams against a real server: a gunicorn with a user and a queued job, raw SSE clients."""

from __future__ import annotations

import secrets
import shutil
import socket
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from flaskyard.devserver import free_port
from tests.support.api import JOBS, LOGIN, PASSWORD, REGISTER
from tests.support.servers import Gunicorn, clean_environ, flask_cli

#: A demo job no worker runs: it stays queued, so its stream stays open.
IDLE_JOB = {"type": "demo", "params": {"seconds": 600, "steps": 1}}


def server_env(
    directory: Path, redis_url: str, template: Path | None = None, **settings: str
) -> dict[str, str]:
    """A production web server's environment on a SQLite file in ``directory`` (migrated).

    ``template``: a migrated database file to copy (migrating costs seconds each time).
    """
    if template is not None and not (directory / "app.db").exists():
        shutil.copyfile(template, directory / "app.db")
    env = clean_environ(
        {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": f"sqlite:///{directory / 'app.db'}",
            "REDIS_URL": redis_url,
            "REQUIRE_VERIFIED_EMAIL": "false",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "2",
            "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
            "GUNICORN_PID_FILE": str(directory / f"gunicorn-{secrets.token_hex(4)}.pid"),
            "INSTANCE_DIR": str(directory / "instance"),
            "RATELIMIT_KEY_PREFIX": f"streams-{secrets.token_hex(8)}",
            "LOG_LEVEL": "WARNING",
            **settings,
        }
    )
    if not (directory / "app.db").exists():
        flask_cli(env, "db", "upgrade")
    return env


def with_port(env: Mapping[str, str], directory: Path) -> dict[str, str]:
    """The same settings for a second server: another port and pid file."""
    return {
        **env,
        "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
        "GUNICORN_PID_FILE": str(directory / f"gunicorn-{secrets.token_hex(4)}.pid"),
    }


@dataclass
class Watching:
    """A signed-in user and a job that stays queued."""

    token: str
    job_id: str


def sign_up_and_queue(server: Gunicorn) -> Watching:
    """A new user, signed in, with one queued job."""
    username = f"u{secrets.token_hex(4)}"
    body = {"username": username, "email": f"{username}@example.com", "password": PASSWORD}
    assert server.request("POST", REGISTER, json_body=body).status == 201
    reply = server.request("POST", LOGIN, json_body={"username": username, "password": PASSWORD})
    assert reply.status == 200, reply.body
    token = reply.json()["access_token"]
    job = server.request("POST", JOBS, json_body=IDLE_JOB, token=token)
    assert job.status == 202, job.body
    return Watching(token, job.json()["id"])


class RawStream:
    """One ``GET /api/v1/jobs/{id}/events`` over a plain socket, read as bytes."""

    def __init__(self, server: Gunicorn, watching: Watching, timeout: float = 15.0) -> None:
        self.sock = socket.create_connection(server.address, timeout=timeout)
        host, port = server.address
        request = (
            f"GET {JOBS}/{watching.job_id}/events HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Authorization: Bearer {watching.token}\r\nAccept: text/event-stream\r\n\r\n"
        )
        self.sock.sendall(request.encode())
        self.data = b""
        self.closed = False

    @property
    def status(self) -> int:
        """The response's status code (once the status line is in)."""
        return int(self.data.split(b" ", 2)[1])

    def read_until(self, marker: bytes, timeout: float) -> bool:
        """Read until ``marker`` is in, the server closes, or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while marker not in self.data and not self.closed:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except TimeoutError:
                return False
            except ConnectionResetError:
                chunk = b""
            if not chunk:
                self.closed = True
            self.data += chunk
        return marker in self.data

    def read_to_end(self, timeout: float) -> bool:
        """Read until the server closes the connection (True) or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while not self.closed:
            if deadline - time.monotonic() <= 0:
                return False
            self.read_until(b"\0never\0", deadline - time.monotonic())
        return True

    def close(self) -> None:
        self.sock.close()


@contextmanager
def raw_streams(server: Gunicorn, watching: Watching, count: int) -> Iterator[list[RawStream]]:
    """``count`` streams of the job, opened one after another; all closed afterwards."""
    streams: list[RawStream] = []
    try:
        for _ in range(count):
            streams.append(RawStream(server, watching))
        yield streams
    finally:
        for stream in streams:
            stream.close()
