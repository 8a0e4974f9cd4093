"""Account self-service: sign out everywhere, change password, change email, delete the account."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis

from flaskyard.settings import get_settings
from tests.support.api import (
    JOBS,
    LOGIN,
    ME,
    PASSWORD,
    POSTS,
    REFRESH,
    UPLOADS,
    bearer,
    problem,
    tokens,
    upload,
)
from tests.support.apps import count_rows
from tests.support.devmail import delivered, link_token, token_in_body
from tests.support.factories import image_bytes
from tests.support.fixtures import Accounts
from tests.support.jobs import start_job

LOGOUT_ALL = "/api/v1/auth/logout-all"
PASSWORD_URL = "/api/v1/users/me/password"
EMAIL_URL = "/api/v1/users/me/email"
VERIFY = "/api/v1/auth/verify-email/confirm"
COOKIE_PATH = "/api/v1/auth/"
NEW_PASSWORD = "a much better passphrase"


def me(client: FlaskClient, access: str) -> Any:
    return client.get(ME, headers=bearer(access))


def refresh(client: FlaskClient, refresh_token: str) -> int:
    return int(client.post(REFRESH, headers=bearer(refresh_token)).status_code)


def files_under(folder: Path) -> set[str]:
    return {
        name
        for _root, _dirs, names in os.walk(folder)
        for name in names
        if not name.startswith(".")
    }


# -- sign out everywhere ---------------------------------------------------------------------


def test_logout_all_kills_every_token_of_every_device(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    laptop, phone = tokens(client, "alice"), tokens(client, "alice")
    browser = client.post(LOGIN, json={"username": "alice", "password": PASSWORD, "cookie": True})
    assert browser.status_code == 200
    bob = tokens(client, "bob")
    cookie = client.get_cookie("refresh_token_cookie", path=COOKIE_PATH)
    csrf = client.get_cookie("csrf_refresh_token")
    assert cookie is not None and csrf is not None

    response = client.post(LOGOUT_ALL, headers=bearer(phone["access_token"]))
    assert response.status_code == 204, response.get_data(as_text=True)
    for session in (laptop, phone):
        problem(me(client, session["access_token"]), 401)
        assert refresh(client, session["refresh_token"]) == 401
    problem(me(client, browser.get_json()["access_token"]), 401)
    # This browser was told to drop its cookies; a copy kept elsewhere is dead anyway.
    assert client.get_cookie("refresh_token_cookie", path=COOKIE_PATH) is None
    client.set_cookie("refresh_token_cookie", cookie.value, path=COOKIE_PATH)
    client.set_cookie("csrf_refresh_token", csrf.value)
    problem(client.post(REFRESH, headers={"X-CSRF-TOKEN": csrf.value}), 401)
    # Other accounts are untouched, and signing in again works.
    assert me(client, bob["access_token"]).status_code == 200
    assert me(client, tokens(client, "alice")["access_token"]).status_code == 200
    problem(client.post(LOGOUT_ALL), 401)


# -- change password ---------------------------------------------------------------------------


def test_change_password_returns_a_working_pair_and_signs_out_the_rest(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    this, other = tokens(client, "alice"), tokens(client, "alice")
    headers = bearer(this["access_token"])

    wrong = problem(
        client.post(
            PASSWORD_URL,
            json={"current_password": "not my password", "new_password": NEW_PASSWORD},
            headers=headers,
        ),
        400,
    )
    assert wrong["type"].endswith("/wrong-password")
    assert [error["field"] for error in wrong["errors"]] == ["current_password"]
    short = problem(
        client.post(
            PASSWORD_URL,
            json={"current_password": PASSWORD, "new_password": "short"},
            headers=headers,
        ),
        422,
    )
    assert {error["field"] for error in short["errors"]} == {"new_password"}
    problem(client.post(PASSWORD_URL, json={"new_password": NEW_PASSWORD}, headers=headers), 422)
    # Nothing changed so far.
    assert me(client, other["access_token"]).status_code == 200

    response = client.post(
        PASSWORD_URL,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD},
        headers=headers,
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    pair = response.get_json()
    assert {"access_token", "refresh_token", "token_type", "expires_in"} <= pair.keys()
    assert pair["token_type"] == "Bearer"
    assert me(client, pair["access_token"]).status_code == 200
    assert refresh(client, pair["refresh_token"]) == 200
    for old in (this, other):
        problem(me(client, old["access_token"]), 401)
        assert refresh(client, old["refresh_token"]) == 401
    problem(client.post(LOGIN, json={"username": "alice", "password": PASSWORD}), 401)
    assert tokens(client, "alice", NEW_PASSWORD)["access_token"]


def test_change_password_in_cookie_mode_sets_the_refresh_cookie(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    access = tokens(client, "alice")["access_token"]
    response = client.post(
        PASSWORD_URL,
        json={"current_password": PASSWORD, "new_password": NEW_PASSWORD, "cookie": True},
        headers=bearer(access),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "refresh_token" not in body
    assert any(
        header.startswith("refresh_token_cookie=")
        for header in response.headers.getlist("Set-Cookie")
    )
    csrf = client.get_cookie("csrf_refresh_token")
    assert csrf is not None
    renewed = client.post(REFRESH, headers={"X-CSRF-TOKEN": csrf.value})
    assert renewed.status_code == 200, renewed.get_data(as_text=True)
    assert me(client, renewed.get_json()["access_token"]).status_code == 200


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # the limiter lives in Redis
def test_wrong_passwords_are_throttled_per_account(
    app_config: dict[str, Any], client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    headers = accounts.alice
    body = {"current_password": "guess", "new_password": NEW_PASSWORD}
    statuses = [
        client.post(PASSWORD_URL, json=body, headers=headers).status_code for _ in range(11)
    ]
    assert statuses[:10] == [400] * 10
    problem(client.post(PASSWORD_URL, json=body, headers=headers), 429)
    # The same budget covers the other endpoints that check the password.
    problem(client.delete(ME, json={"password": "guess"}, headers=headers), 429)
    # Another account has its own budget.
    problem(client.post(PASSWORD_URL, json=body, headers=accounts.bob), 400)


# -- change email ------------------------------------------------------------------------------


@pytest.mark.usefixtures("mailbox")
def test_change_email_takes_effect_only_once_the_new_address_confirms(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    headers = accounts.alice
    problem(
        client.post(EMAIL_URL, json={"password": "nope", "email": "a@x.org"}, headers=headers), 400
    )
    invalid = problem(
        client.post(
            EMAIL_URL, json={"password": PASSWORD, "email": "not-an-address"}, headers=headers
        ),
        422,
    )
    assert {error["field"] for error in invalid["errors"]} == {"email"}
    taken = {"password": PASSWORD, "email": "BOB@example.com"}
    conflict = problem(client.post(EMAIL_URL, json=taken, headers=headers), 409)
    assert [error["field"] for error in conflict["errors"]] == ["email"]
    assert delivered(app, client) == []

    response = client.post(
        EMAIL_URL, json={"password": PASSWORD, "email": "alice@new.example"}, headers=headers
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    # Not yet: the account keeps its address until the new one is confirmed.
    assert client.get(ME, headers=headers).get_json()["email"] == "alice@example.com"
    [message] = delivered(app, client)
    assert message["to"] == "alice@new.example"
    assert any(
        link.startswith("http://127.0.0.1:5000/verify-email?token=") for link in message["links"]
    )
    token = link_token(message, "/verify-email")
    assert token_in_body(message["body"]) == token

    problem(client.post(VERIFY, json={"token": token[:-3] + "xyz"}), 400)
    assert client.post(VERIFY, json={"token": token}).status_code == 204
    user = client.get(ME, headers=headers).get_json()
    assert user["email"] == "alice@new.example"
    assert user["email_verified"] is True
    problem(client.post(VERIFY, json={"token": token}), 400)  # used up
    assert tokens(client, "alice@new.example")["access_token"]
    problem(client.post(LOGIN, json={"username": "alice@example.com", "password": PASSWORD}), 401)


@pytest.mark.usefixtures("mailbox")
def test_an_address_taken_before_confirmation_is_refused(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    body = {"password": PASSWORD, "email": "shared@example.com"}
    assert client.post(EMAIL_URL, json=body, headers=accounts.alice).status_code == 202
    assert client.post(EMAIL_URL, json=body, headers=accounts.bob).status_code == 202
    bob_mail, alice_mail = delivered(app, client)
    assert (
        client.post(VERIFY, json={"token": link_token(bob_mail, "/verify-email")}).status_code
        == 204
    )
    late = problem(
        client.post(VERIFY, json={"token": link_token(alice_mail, "/verify-email")}), 400
    )
    assert "another account" in late["detail"]
    assert client.get(ME, headers=accounts.alice).get_json()["email"] == "alice@example.com"


# -- delete the account ------------------------------------------------------------------------


def test_delete_account_removes_posts_uploads_jobs_and_tokens(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    alice, bob = accounts.alice, accounts.bob
    picture = upload(client, alice, "picture.png", image_bytes())
    upload(client, alice, "notes.txt", b"private notes\n")
    kept = upload(client, bob, "bob.txt", b"bob's file\n")
    response = client.post(
        POSTS, json={"title": "Mine", "body": "x", "upload_ids": [picture]}, headers=alice
    )
    assert response.status_code == 201
    assert client.post(POSTS, json={"title": "Bob's", "body": "y"}, headers=bob).status_code == 201
    start_job(client, alice, seconds=0, steps=1)
    assert client.get(POSTS).get_json()["total"] == 2  # rendered and cached before the delete
    upload_dir = get_settings(app).upload_dir
    assert len(files_under(upload_dir)) == 3
    other_login = tokens(client, "alice")

    problem(client.delete(ME, json={"password": "wrong"}, headers=alice), 400)
    problem(client.delete(ME, json={}, headers=alice), 422)
    assert count_rows("posts", app=app) == 2 and count_rows("uploads", app=app) == 3

    response = client.delete(ME, json={"password": PASSWORD}, headers=alice)
    assert response.status_code == 204, response.get_data(as_text=True)
    assert count_rows("users", "username = 'alice'", app=app) == 0
    # Bob's post and upload remain; everything of alice's is gone, files included.
    assert count_rows("posts", app=app) == 1 and count_rows("uploads", app=app) == 1
    assert count_rows("jobs", app=app) == 0 and count_rows("post_uploads", app=app) == 0
    assert len(files_under(upload_dir)) == 1
    still_there = client.get(f"{UPLOADS}/{kept}", headers=bob)
    assert still_there.status_code == 200 and still_there.data == b"bob's file\n"
    still_there.close()
    feed = client.get(POSTS).get_json()
    assert [post["title"] for post in feed["items"]] == ["Bob's"]
    problem(client.get(ME, headers=alice), 401)
    problem(client.get(ME, headers=bearer(other_login["access_token"])), 401)
    assert refresh(client, other_login["refresh_token"]) == 401
    problem(client.post(LOGIN, json={"username": "alice", "password": PASSWORD}), 401)
    assert client.get(JOBS, headers=bob).status_code == 200


def test_the_last_admin_cannot_delete_themselves(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    body = problem(client.delete(ME, json={"password": PASSWORD}, headers=accounts.admin), 409)
    assert "admin" in body["detail"]
    assert me(client, accounts.admin["Authorization"].split()[1]).status_code == 200
    assert count_rows("users", app=app) == 3
