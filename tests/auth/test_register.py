"""Registration: the user body, case-insensitive uniqueness, validation errors."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.api import PASSWORD, REGISTER, problem

pytestmark = pytest.mark.usefixtures("roles")


def _register(client: FlaskClient, username: str, email: str, password: str = PASSWORD) -> Any:
    return client.post(REGISTER, json={"username": username, "email": email, "password": password})


def test_register_returns_the_user(client: FlaskClient) -> None:
    before = datetime.now(UTC)
    response = _register(client, "Alice", "Alice@Example.com")
    assert response.status_code == 201
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert {"id", "username", "email", "roles", "email_verified", "created_at"} <= body.keys()
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert body["username"] == "Alice"
    assert body["email"] == "Alice@Example.com"
    assert body["roles"] == ["user"]
    assert body["email_verified"] is False
    assert "password" not in response.get_data(as_text=True).lower()
    created = datetime.fromisoformat(body["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= created <= datetime.now(UTC) + timedelta(seconds=5)


def test_taken_username_or_email_is_409(client: FlaskClient) -> None:
    assert _register(client, "alice", "alice@example.com").status_code == 201
    for username, email, field in (
        ("ALICE", "other@example.com", "username"),
        ("alice", "other@example.com", "username"),
        ("bob", "ALICE@example.COM", "email"),
        ("bob", "alice@example.com", "email"),
    ):
        body = problem(_register(client, username, email), 409)
        assert field in body["detail"], (username, email)
        # Named the way a 422 names its fields, so a form shows it beside the right one.
        assert body["errors"] == [
            {"in": "json", "field": field, "message": f"That {field} is already taken."}
        ]
    assert _register(client, "bob", "bob@example.com").status_code == 201


INVALID = [
    ({"username": "ab", "email": "ab@example.com", "password": PASSWORD}, "username"),
    ({"username": "a" * 33, "email": "ab@example.com", "password": PASSWORD}, "username"),
    ({"username": "_alice", "email": "ab@example.com", "password": PASSWORD}, "username"),
    ({"username": "al ice", "email": "ab@example.com", "password": PASSWORD}, "username"),
    ({"username": "alice", "email": "not-an-email", "password": PASSWORD}, "email"),
    ({"username": "alice", "email": "a@example.com", "password": "short"}, "password"),
    ({"username": "alice", "email": "a@example.com", "password": "x" * 129}, "password"),
    ({"username": "alice", "email": "a@example.com"}, "password"),
]


def test_invalid_fields_are_422_with_errors(client: FlaskClient) -> None:
    for payload, field in INVALID:
        body = problem(client.post(REGISTER, json=payload), 422)
        assert body["type"] != "about:blank"
        assert isinstance(body["errors"], list) and body["errors"], payload
        assert field in {error["field"] for error in body["errors"]}, payload
        assert all({"in", "field", "message"} <= error.keys() for error in body["errors"])
    # The boundaries themselves are fine.
    assert _register(client, "abc", "abc@example.com", "x" * 8).status_code == 201
    assert _register(client, "a" * 32, "long@example.com", "y" * 128).status_code == 201
