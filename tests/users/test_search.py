"""Admins search users by a case-insensitive part of the username or email."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.api import bearer, problem, tokens
from tests.support.factories import UserFactory
from tests.users.test_routes import USERS


@pytest.fixture
def admin_token(roles: None, make_user: UserFactory, client: FlaskClient) -> str:
    make_user("Ada_Admin", roles=("user", "admin"), email="ada@lovelace.example")
    make_user("grace", email="Grace.Hopper@navy.example")
    make_user("bob", email="bob@builder.example")
    make_user("robert", email="r@example.com")
    make_user("under_score", email="u@example.com")
    return str(tokens(client, "Ada_Admin")["access_token"])


def _names(client: FlaskClient, token: str, query: str) -> list[str]:
    response = client.get(f"{USERS}?{query}", headers=bearer(token))
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert body["total"] == len(body["items"]) or "per_page" in query
    return [item["username"] for item in body["items"]]


def test_q_matches_username_or_email_in_any_case(client: FlaskClient, admin_token: str) -> None:
    assert _names(client, admin_token, "q=BOB") == ["bob"]
    assert _names(client, admin_token, "q=hopper") == ["grace"]  # email only, other case
    assert _names(client, admin_token, "q=ob") == ["bob", "robert"]  # oldest first
    assert _names(client, admin_token, "q=example") == [
        "Ada_Admin",
        "grace",
        "bob",
        "robert",
        "under_score",
    ]
    assert _names(client, admin_token, "q=nobody-has-this") == []
    assert len(_names(client, admin_token, "q=")) == 5  # empty means no filter


def test_q_is_a_plain_substring_not_a_pattern(client: FlaskClient, admin_token: str) -> None:
    # LIKE wildcards in q match themselves only.
    assert _names(client, admin_token, "q=_") == ["Ada_Admin", "under_score"]
    assert _names(client, admin_token, "q=%25") == []


def test_q_pages_and_counts_the_matches(client: FlaskClient, admin_token: str) -> None:
    response = client.get(f"{USERS}?q=o&per_page=2&page=2", headers=bearer(admin_token))
    body = response.get_json()
    # "o" is in: ada@lovelace, Grace.Hopper@navy, bob, robert, under_score.
    assert body["total"] == 5 and body["page"] == 2
    assert [item["username"] for item in body["items"]] == ["bob", "robert"]


def test_q_is_for_admins_and_bounded(client: FlaskClient, admin_token: str, make_user: Any) -> None:
    user_token = tokens(client, "bob")["access_token"]
    problem(client.get(f"{USERS}?q=a", headers=bearer(user_token)), 403)
    problem(client.get(f"{USERS}?q={'x' * 255}", headers=bearer(admin_token)), 422)
