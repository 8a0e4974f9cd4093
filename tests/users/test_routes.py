"""The users API: /me, the admin list, and admin changes that apply on the user's next request."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.api import ME, bearer, me_status, problem, tokens
from tests.support.factories import UserFactory

USERS = "/api/v1/users"


@pytest.fixture
def people(roles: None, make_user: UserFactory, client: FlaskClient) -> dict[str, Any]:
    """Two admins and a user, each with a token."""
    found: dict[str, Any] = {}
    for name, extra in (("ada", ("admin",)), ("grace", ("admin",)), ("bob", ())):
        user = make_user(name, roles=("user", *extra))
        found[name] = user
        found[f"{name}_token"] = tokens(client, name)["access_token"]
    return found


def _patch(client: FlaskClient, token: str, user: Any, **data: Any) -> Any:
    return client.patch(f"{USERS}/{user.id}", headers=bearer(token), json=data)


def test_me_and_the_admin_list(client: FlaskClient, people: dict[str, Any]) -> None:
    response = client.get(ME, headers=bearer(people["bob_token"]))
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == str(people["bob"].id)
    assert body["username"] == "bob"
    assert body["email"] == "bob@example.com"
    assert body["roles"] == ["user"]
    assert body["email_verified"] is False
    assert body["created_at"].endswith("+00:00")
    assert "password_hash" not in body and "token_version" not in body
    assert client.get(ME, headers=bearer(people["ada_token"])).get_json()["roles"] == [
        "admin",
        "user",
    ]

    # Admins list every user, a page at a time.
    response = client.get(USERS, headers=bearer(people["ada_token"]))
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == {"items", "page", "per_page", "total"}
    assert body["page"] == 1 and body["per_page"] == 20 and body["total"] == 3
    assert [item["username"] for item in body["items"]] == ["ada", "grace", "bob"]
    assert all("password_hash" not in item for item in body["items"])
    page = client.get(f"{USERS}?page=2&per_page=2", headers=bearer(people["ada_token"]))
    assert page.get_json()["items"][0]["username"] == "bob"
    assert page.get_json()["total"] == 3
    problem(client.get(f"{USERS}?per_page=101", headers=bearer(people["ada_token"])), 422)

    # Non-admins and anonymous callers may neither list nor change users.
    problem(client.get(USERS, headers=bearer(people["bob_token"])), 403)
    problem(client.get(USERS), 401)
    problem(_patch(client, people["bob_token"], people["bob"], roles=["user", "admin"]), 403)
    problem(client.patch(f"{USERS}/{people['bob'].id}", json={"active": False}), 401)
    assert client.get(ME, headers=bearer(people["bob_token"])).get_json()["roles"] == ["user"]


def test_admin_changes_roles_and_active(client: FlaskClient, people: dict[str, Any]) -> None:
    response = _patch(client, people["ada_token"], people["bob"], roles=["user", "admin"])
    assert response.status_code == 200
    assert response.get_json()["roles"] == ["admin", "user"]
    assert client.get(USERS, headers=bearer(people["bob_token"])).status_code == 200
    response = _patch(client, people["ada_token"], people["bob"], active=False)
    assert response.status_code == 200
    assert response.get_json()["active"] is False
    assert response.get_json()["roles"] == ["admin", "user"]

    body = problem(
        _patch(client, people["ada_token"], people["bob"], roles=["user", "wizard"]), 422
    )
    assert "wizard" in body["detail"]
    problem(_patch(client, people["ada_token"], people["bob"], active="sometimes"), 422)
    problem(_patch(client, people["ada_token"], people["bob"], roles="admin"), 422)
    assert _patch(client, people["ada_token"], people["bob"]).get_json()["roles"] == [
        "admin",
        "user",
    ]
    response = client.patch(
        f"{USERS}/{uuid.uuid4()}", headers=bearer(people["ada_token"]), json={"active": False}
    )
    problem(response, 404)


def test_demoted_admin_loses_access_on_the_next_request(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    assert client.get(USERS, headers=bearer(people["grace_token"])).status_code == 200
    response = _patch(client, people["ada_token"], people["grace"], roles=["user"])
    assert response.status_code == 200
    problem(client.get(USERS, headers=bearer(people["grace_token"])), 403)
    assert me_status(client, people["grace_token"]) == 200  # still signed in, just not an admin


def test_deactivated_user_is_signed_out_on_the_next_request(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    assert me_status(client, people["bob_token"]) == 200
    assert _patch(client, people["ada_token"], people["bob"], active=False).status_code == 200
    problem(client.get(ME, headers=bearer(people["bob_token"])), 401)
    problem(client.post("/api/v1/auth/login", json={"username": "bob", "password": "x" * 8}), 401)
    assert _patch(client, people["ada_token"], people["bob"], active=True).status_code == 200
    assert me_status(client, tokens(client, "bob")["access_token"]) == 200


def test_last_active_admin_cannot_be_removed(client: FlaskClient, people: dict[str, Any]) -> None:
    assert _patch(client, people["ada_token"], people["grace"], active=False).status_code == 200
    problem(_patch(client, people["ada_token"], people["ada"], roles=["user"]), 409)
    problem(_patch(client, people["ada_token"], people["ada"], active=False), 409)
    response = client.get(ME, headers=bearer(people["ada_token"]))
    assert response.get_json()["roles"] == ["admin", "user"]
    assert client.get(USERS, headers=bearer(people["ada_token"])).status_code == 200
    # Another active admin makes it allowed again.
    assert _patch(client, people["ada_token"], people["bob"], roles=["admin"]).status_code == 200
    assert _patch(client, people["ada_token"], people["ada"], roles=["user"]).status_code == 200
    problem(client.get(USERS, headers=bearer(people["ada_token"])), 403)


def test_tokens_from_before_a_deactivation_stay_dead_after_reactivation(
    client: FlaskClient, people: dict[str, Any]
) -> None:
    bob = tokens(client, "bob")
    assert _patch(client, people["ada_token"], people["bob"], active=False).status_code == 200
    assert me_status(client, bob["access_token"]) == 401
    assert _patch(client, people["ada_token"], people["bob"], active=True).status_code == 200
    assert me_status(client, bob["access_token"]) == 401
    assert me_status(client, people["bob_token"]) == 401
    assert (
        client.post("/api/v1/auth/refresh", headers=bearer(bob["refresh_token"])).status_code == 401
    )
    assert me_status(client, tokens(client, "bob")["access_token"]) == 200  # a new sign-in works
