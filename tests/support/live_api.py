"""The API served by a real gunicorn on loopback, for tests that talk to it as outsiders do.

SQLite, the test session's Redis, testing mode (cheap password hashing), no job worker (jobs
stay queued, which every job endpoint answers for). An admin made with ``flask create-admin``
and a user who signed up through the API, each with an access token.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from flaskyard.devserver import free_port
from tests.support.servers import Gunicorn, clean_environ, flask_cli

ADMIN = ("root", "root@example.com")
USER = ("reader", "reader@example.com")


@dataclass
class LiveApi:
    """A running server, its environment, and who can sign in to it."""

    url: str
    server: Gunicorn
    admin_password: str
    user_password: str

    def token(self, username: str, password: str) -> str:
        """A fresh access token (a new login) for ``username``."""
        reply = self.server.request(
            "POST", "/api/v1/auth/login", json_body={"username": username, "password": password}
        )
        assert reply.status == 200, reply.body
        token: str = reply.json()["access_token"]
        return token

    def admin_token(self) -> str:
        return self.token(ADMIN[0], self.admin_password)

    def user_token(self) -> str:
        return self.token(USER[0], self.user_password)


@pytest.fixture(scope="session")
def live_api(tmp_path_factory: pytest.TempPathFactory, redis_url: str) -> Iterator[LiveApi]:
    """Start the server once per test session; stop it at the end."""
    directory: Path = tmp_path_factory.mktemp("live-api")
    port = free_port()
    env = clean_environ(
        {
            "APP_ENV": "testing",
            "SECRET_KEY": secrets.token_urlsafe(32),
            "JWT_SECRET_KEY": secrets.token_urlsafe(32),
            "DATABASE_URL": f"sqlite:///{directory / 'flaskyard.db'}",
            "REDIS_URL": redis_url,
            "INSTANCE_DIR": str(directory / "instance"),
            "UPLOAD_DIR": str(directory / "uploads"),
            "PUBLIC_URL": f"http://127.0.0.1:{port}",
            "DEV_MAILBOX": "true",  # so GET /api/v1/dev/mail answers 200 too
            # Its own rate-limit counters: the test Redis outlives this server.
            "RATELIMIT_KEY_PREFIX": f"live-api-{uuid.uuid4().hex}",
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_THREADS": "4",
            "GUNICORN_PID_FILE": str(directory / "gunicorn.pid"),
            "LOG_LEVEL": "WARNING",
            "PYTHONUNBUFFERED": "1",
        }
    )
    flask_cli(env, "db", "upgrade")
    admin_password = secrets.token_urlsafe(16)
    password_file = directory / "admin-password"
    password_file.write_text(admin_password + "\n", encoding="utf-8")
    flask_cli(env, "create-admin", *ADMIN, "--password-file", str(password_file))
    user_password = secrets.token_urlsafe(16)
    with Gunicorn(env, directory / "gunicorn.log") as server:
        reply = server.request(
            "POST",
            "/api/v1/auth/register",
            json_body={"username": USER[0], "email": USER[1], "password": user_password},
        )
        assert reply.status == 201, reply.body
        yield LiveApi(server.url, server, admin_password, user_password)
