"""Writing posts: create with Location, validation, and who may change or delete a post."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.api import POSTS, bearer, problem, tokens
from tests.support.factories import UserFactory


@pytest.fixture
def people(roles: None, make_user: UserFactory, client: FlaskClient) -> dict[str, str]:
    """Tokens for the author alice, another user bob, and an admin ada."""
    make_user("alice")
    make_user("bob")
    make_user("ada", roles=("user", "admin"))
    return {name: tokens(client, name)["access_token"] for name in ("alice", "bob", "ada")}


@pytest.fixture
def post(client: FlaskClient, people: dict[str, str]) -> dict[str, Any]:
    response = client.post(
        POSTS, headers=bearer(people["alice"]), json={"title": "Hello", "body": "First post"}
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def test_create_returns_201_with_location(client: FlaskClient, people: dict[str, str]) -> None:
    response = client.post(
        POSTS, headers=bearer(people["alice"]), json={"title": "Hello", "body": "Wörld 🌍"}
    )
    assert response.status_code == 201
    body = response.get_json()
    assert str(uuid.UUID(body["id"])) == body["id"]
    assert body["title"] == "Hello"
    assert body["body"] == "Wörld 🌍"
    assert body["author"]["username"] == "alice"
    assert body["created_at"].endswith("+00:00")
    location = response.headers["Location"]
    assert location.endswith(f"/api/v1/posts/{body['id']}")
    listed = client.get(POSTS).get_json()
    assert [item["id"] for item in listed["items"]] == [body["id"]]

    # The size limits are inclusive.
    response = client.post(
        POSTS, headers=bearer(people["alice"]), json={"title": "t" * 200, "body": "b" * 100_000}
    )
    assert response.status_code == 201
    assert len(response.get_json()["body"]) == 100_000
    response = client.post(POSTS, headers=bearer(people["alice"]), json={"title": "t", "body": ""})
    assert response.status_code == 201


INVALID = [
    ({"title": "", "body": "x"}, "title"),
    ({"title": "t" * 201, "body": "x"}, "title"),
    ({"title": "ok", "body": "b" * 100_001}, "body"),
    ({"body": "x"}, "title"),
    ({"title": "ok"}, "body"),
    ({"title": 5, "body": "x"}, "title"),
]


def test_invalid_posts_are_422(client: FlaskClient, people: dict[str, str]) -> None:
    for payload, field in INVALID:
        body = problem(client.post(POSTS, headers=bearer(people["alice"]), json=payload), 422)
        assert field in {error["field"] for error in body["errors"]}, payload
    assert client.get(POSTS).get_json()["total"] == 0


def test_anonymous_writes_are_401(client: FlaskClient, post: dict[str, Any]) -> None:
    problem(client.post(POSTS, json={"title": "x", "body": "y"}), 401)
    problem(client.patch(f"{POSTS}/{post['id']}", json={"title": "x"}), 401)
    problem(client.delete(f"{POSTS}/{post['id']}"), 401)
    assert client.get(POSTS).get_json()["items"][0]["title"] == "Hello"


def test_owner_edits_and_deletes(
    client: FlaskClient, people: dict[str, str], post: dict[str, Any]
) -> None:
    url = f"{POSTS}/{post['id']}"
    response = client.patch(url, headers=bearer(people["alice"]), json={"title": "Changed"})
    assert response.status_code == 200
    assert response.get_json()["title"] == "Changed"
    assert response.get_json()["body"] == "First post"
    problem(client.patch(url, headers=bearer(people["alice"]), json={"title": ""}), 422)
    problem(client.patch(url, headers=bearer(people["alice"]), json={"body": "b" * 100_001}), 422)
    assert client.get(url).get_json()["title"] == "Changed"
    assert client.delete(url, headers=bearer(people["alice"])).status_code == 204
    assert client.get(POSTS).get_json()["total"] == 0


def test_other_users_get_403_admins_may(
    client: FlaskClient, people: dict[str, str], post: dict[str, Any]
) -> None:
    url = f"{POSTS}/{post['id']}"
    problem(client.patch(url, headers=bearer(people["bob"]), json={"title": "Mine now"}), 403)
    problem(client.delete(url, headers=bearer(people["bob"])), 403)
    assert client.get(POSTS).get_json()["items"][0]["title"] == "Hello"
    # Admins may.
    response = client.patch(url, headers=bearer(people["ada"]), json={"body": "Moderated"})
    assert response.status_code == 200
    assert response.get_json()["body"] == "Moderated"
    assert response.get_json()["author"]["username"] == "alice"
    assert client.delete(url, headers=bearer(people["ada"])).status_code == 204
    assert client.get(POSTS).get_json()["total"] == 0


def test_unknown_post_is_404(client: FlaskClient, people: dict[str, str]) -> None:
    url = f"{POSTS}/{uuid.uuid4()}"
    problem(client.patch(url, headers=bearer(people["ada"]), json={"title": "x"}), 404)
    problem(client.delete(url, headers=bearer(people["ada"])), 404)
