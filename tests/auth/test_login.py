"""Sign-in: the token pair, uniform failures, token claims, and passwords as given."""

from __future__ import annotations

import statistics
import time
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy

from tests.support.api import LOGIN, ME, REGISTER, bearer, login, problem
from tests.support.factories import UserFactory
from tests.support.jwts import unverified

pytestmark = pytest.mark.usefixtures("roles")


def _assert_pair(response: Any) -> dict[str, Any]:
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    assert set(body) == {"access_token", "refresh_token", "token_type", "expires_in"}
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 900
    assert body["access_token"].count(".") == 2
    assert body["refresh_token"].count(".") == 2
    return body


def test_login_by_username_or_email(client: FlaskClient, make_user: UserFactory) -> None:
    make_user("alice")
    for login_with in ("alice", "ALICE", "alice@example.com", "Alice@Example.COM"):
        body = _assert_pair(login(client, login_with))
        response = client.get(ME, headers=bearer(body["access_token"]))
        assert response.status_code == 200
        assert response.get_json()["username"] == "alice"


def test_failures_look_the_same(
    client: FlaskClient, make_user: UserFactory, db: SQLAlchemy
) -> None:
    make_user("alice")
    inactive = make_user("ina")
    inactive.active = False
    db.session.commit()
    wrong = login(client, "alice", "not the password")
    unknown = login(client, "nobody", "not the password")
    off = login(client, "ina")  # the right password of an inactive account
    assert problem(wrong, 401) == problem(unknown, 401) == problem(off, 401)
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")
    body = problem(client.post(LOGIN, json={"username": "alice"}), 422)
    assert "password" in {error["field"] for error in body["errors"]}


def test_unknown_user_takes_as_long_as_a_wrong_password(
    client: FlaskClient, make_user: UserFactory
) -> None:
    make_user("alice")
    login(client, "warm-up", "x")  # builds the dummy hash once

    def timed(username: str) -> float:
        start = time.perf_counter()
        response = login(client, username, "not the password")
        elapsed = time.perf_counter() - start
        assert response.status_code == 401
        return elapsed

    wrong: list[float] = []
    unknown: list[float] = []
    for i in range(7):  # interleaved, so drift hits both sides alike
        wrong.append(timed("alice"))
        unknown.append(timed(f"nobody{i}"))
    ratio = statistics.median(unknown) / statistics.median(wrong)
    assert 0.5 <= ratio <= 2, (ratio, wrong, unknown)


def test_token_claims(client: FlaskClient, make_user: UserFactory) -> None:
    user = make_user("alice")
    body = _assert_pair(login(client, "alice"))
    header, access = unverified(body["access_token"])
    _, refresh = unverified(body["refresh_token"])
    assert header["alg"] == "HS256"
    assert {"jti", "type", "iat", "exp", "nbf", "sub", "fam"} <= access.keys()
    assert access["type"] == "access"
    assert access["sub"] == str(user.id)
    assert str(uuid.UUID(access["sub"])) == access["sub"]
    assert access["exp"] - access["iat"] == 900
    assert access["nbf"] <= access["iat"] + 1
    assert abs(access["iat"] - time.time()) < 60
    assert refresh["type"] == "refresh"
    assert refresh["fam"] == access["fam"]
    assert refresh["sub"] == access["sub"]
    assert refresh["jti"] != access["jti"]
    assert refresh["exp"] - refresh["iat"] == 2_592_000
    again = _assert_pair(login(client, "alice"))
    assert unverified(again["access_token"])[1]["fam"] != access["fam"]


def _register(client: FlaskClient, username: str, password: str) -> Any:
    return client.post(
        REGISTER,
        json={"username": username, "email": f"{username}@example.com", "password": password},
    )


def test_passwords_round_trip_exactly(client: FlaskClient) -> None:
    for i, password in enumerate(
        ("Tr0ub4dor&3-" * 8, "pässwörd-🔐-日本語-" * 3, "x" * 128, "  spaces at both ends  ")
    ):
        assert _register(client, f"user{i}", password).status_code == 201, password
        _assert_pair(login(client, f"user{i}", password))
        problem(login(client, f"user{i}", password[:-1] + "?"), 401)
        if password.strip() != password:  # no trimming either
            problem(login(client, f"user{i}", password.strip()), 401)
    problem(_register(client, "toolong", "x" * 129), 422)


def test_no_truncation_at_72_bytes(client: FlaskClient) -> None:
    for username, password in (("ascii", "a1" * 50), ("euro", "€uro-" * 20)):
        assert len(password.encode()) > 72
        assert _register(client, username, password).status_code == 201
        prefix = password.encode()[:72].decode("utf-8", errors="ignore")
        problem(login(client, username, prefix), 401)
        _assert_pair(login(client, username, password))
