"""Unverified accounts with REQUIRE_VERIFIED_EMAIL on: they sign in and read, but do not write."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis
from werkzeug.test import TestResponse

from flaskyard.config import load_settings
from tests.support.api import JOBS, POSTS, UPLOADS, problem
from tests.support.devmail import delivered, link_token
from tests.support.fixtures import Accounts, _isolated_redis, accounts, jobs_redis_url, redis

__all__ = ["_isolated_redis", "accounts", "jobs_redis_url", "redis"]


def _post(client: FlaskClient, headers: dict[str, str]) -> TestResponse:
    return client.post(POSTS, json={"title": "t", "body": "b"}, headers=headers)


def _upload(client: FlaskClient, headers: dict[str, str]) -> TestResponse:
    return client.post(
        UPLOADS,
        headers=headers,
        data={"file": (io.BytesIO(b"hello\n"), "hello.txt")},
        content_type="multipart/form-data",
    )


def _job(client: FlaskClient, headers: dict[str, str]) -> TestResponse:
    return client.post(
        JOBS, json={"type": "demo", "params": {"seconds": 0, "steps": 1}}, headers=headers
    )


#: The three writes an unverified account may not make.
WRITES: dict[str, Callable[[FlaskClient, dict[str, str]], TestResponse]] = {
    "post": _post,
    "upload": _upload,
    "job": _job,
}


@pytest.fixture(autouse=True)
def _strict(app_config: dict[str, Any]) -> None:
    app_config.update(REQUIRE_VERIFIED_EMAIL=True, DEV_MAILBOX=True)


def test_unverified_accounts_read_but_may_not_write(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    headers = accounts.alice  # signing in worked
    me = client.get("/api/v1/users/me", headers=headers).get_json()
    assert me["email_verified"] is False
    assert client.get(POSTS, headers=headers).status_code == 200
    assert client.get(JOBS, headers=headers).status_code == 200
    for what, write in WRITES.items():
        body = problem(write(client, headers), 403)
        assert body["type"].endswith("/email-not-verified"), what
        assert body["title"] == "Email not verified"
        assert "Confirm your email address first" in body["detail"]
    for table in ("posts", "uploads", "jobs"):
        assert client.get(f"/api/v1/{table}", headers=headers).get_json()["total"] == 0


def test_confirming_the_address_unlocks_writing(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    headers = accounts.alice
    problem(WRITES["post"](client, headers), 403)
    # The "Resend" button: a fresh verification mail, whose link confirms the address.
    assert client.post("/api/v1/auth/verify-email", headers=headers).status_code == 202
    [mail] = delivered(app, client)
    assert mail["to"] == "alice@example.com"
    token = link_token(mail, "/verify-email")
    assert (
        client.post("/api/v1/auth/verify-email/confirm", json={"token": token}).status_code == 204
    )
    for what, write in WRITES.items():
        response = write(client, headers)
        assert response.status_code in (201, 202), (what, response.get_data(as_text=True))


def test_the_policy_defaults_to_production_only() -> None:
    secrets = {"SECRET_KEY": "p" + "x7Q!" * 12, "JWT_SECRET_KEY": "j" + "k9W?" * 12}
    assert load_settings({"APP_ENV": "production", **secrets}).require_verified_email is True
    assert load_settings({"APP_ENV": "development"}).require_verified_email is False
    assert load_settings({"APP_ENV": "testing"}).require_verified_email is False
    off = {"APP_ENV": "production", "REQUIRE_VERIFIED_EMAIL": "false", **secrets}
    assert load_settings(off).require_verified_email is False
    on = {"APP_ENV": "development", "REQUIRE_VERIFIED_EMAIL": "1"}
    assert load_settings(on).require_verified_email is True
