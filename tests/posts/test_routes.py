"""The posts API: paging, lookup, JSON shapes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from flask.testing import FlaskClient
from flask_sqlalchemy import SQLAlchemy

from flaskyard.posts.models import Post
from tests.support.api import problem
from tests.support.factories import UserFactory, make_post

START = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)


@pytest.fixture
def posts(db: SQLAlchemy, make_user: UserFactory) -> list[Post]:
    """Five posts by alice, one minute apart, oldest first."""
    author = make_user("alice")
    items = [
        make_post(
            db.session,
            author,
            title=f"Post {i}",
            body=f"Body {i}",
            created_at=START + timedelta(minutes=i),
        )
        for i in range(5)
    ]
    db.session.commit()
    return items


def test_empty_list(client: FlaskClient) -> None:
    response = client.get("/api/v1/posts")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    assert response.get_json() == {"items": [], "page": 1, "per_page": 20, "total": 0}


def test_list_is_newest_first(client: FlaskClient, posts: list[Post]) -> None:
    body = client.get("/api/v1/posts").get_json()
    assert [item["title"] for item in body["items"]] == [f"Post {i}" for i in range(4, -1, -1)]
    assert body["total"] == 5


def test_pages(client: FlaskClient, posts: list[Post]) -> None:
    pages = [client.get(f"/api/v1/posts?page={n}&per_page=2").get_json() for n in (1, 2, 3)]
    assert [p["page"] for p in pages] == [1, 2, 3]
    assert all(p["per_page"] == 2 and p["total"] == 5 for p in pages)
    titles = [[item["title"] for item in p["items"]] for p in pages]
    assert titles == [["Post 4", "Post 3"], ["Post 2", "Post 1"], ["Post 0"]]


def test_page_past_the_end(client: FlaskClient, posts: list[Post]) -> None:
    body = client.get("/api/v1/posts?page=4&per_page=2").get_json()
    assert body == {"items": [], "page": 4, "per_page": 2, "total": 5}


def test_per_page_100_is_allowed(client: FlaskClient, posts: list[Post]) -> None:
    body = client.get("/api/v1/posts?per_page=100").get_json()
    assert body["per_page"] == 100
    assert len(body["items"]) == 5


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("per_page=101", "per_page"),
        ("per_page=0", "per_page"),
        ("page=0", "page"),
        ("page=-1", "page"),
        ("page=abc", "page"),
        ("per_page=2.5", "per_page"),
    ],
)
def test_bad_paging_is_422(client: FlaskClient, query: str, field: str) -> None:
    body = problem(client.get(f"/api/v1/posts?{query}"), 422)
    assert [error["field"] for error in body["errors"]] == [field]
    assert body["errors"][0]["in"] == "query"
    assert body["errors"][0]["message"]


def test_item_shape(client: FlaskClient, posts: list[Post]) -> None:
    item = client.get("/api/v1/posts?per_page=1").get_json()["items"][0]
    newest = posts[-1]
    assert {"id", "title", "body", "author", "created_at", "updated_at"} <= item.keys()
    assert item["id"] == str(newest.id)
    assert (item["title"], item["body"]) == ("Post 4", "Body 4")
    assert item["author"] == {"id": str(newest.author.id), "username": "alice"}
    assert str(uuid.UUID(item["id"])) == item["id"]
    created = datetime.fromisoformat(item["created_at"])
    assert created.utcoffset() == timedelta(0)
    assert created == START + timedelta(minutes=4)
    assert datetime.fromisoformat(item["updated_at"]).utcoffset() == timedelta(0)


def test_get_one(client: FlaskClient, posts: list[Post]) -> None:
    post = posts[2]
    response = client.get(f"/api/v1/posts/{post.id}")
    assert response.status_code == 200
    body = response.get_json()
    assert body["id"] == str(post.id)
    assert body["title"] == "Post 2"
    assert body["author"] == {"id": str(post.author_id), "username": "alice"}
    assert "email" not in body["author"]
    assert "password_hash" not in str(body)


def test_get_unknown_id_is_404(client: FlaskClient, posts: list[Post]) -> None:
    body = problem(client.get(f"/api/v1/posts/{uuid.uuid4()}"), 404)
    assert body["detail"] == "No post has that id."


@pytest.mark.parametrize("path", ["not-a-uuid", "123", "00000000-0000-0000-0000-00000000000g"])
def test_get_non_uuid_is_404(client: FlaskClient, path: str) -> None:
    problem(client.get(f"/api/v1/posts/{path}"), 404)


def test_large_unicode_body_round_trips(
    client: FlaskClient, db: SQLAlchemy, make_user: UserFactory
) -> None:
    # 100 000 four-byte characters: more than MySQL's TEXT (64 KiB) can hold.
    body = "🐍" * 100_000
    post = make_post(db.session, make_user("alice"), title="Große Überschrift ✓", body=body)
    db.session.commit()
    post_id = post.id
    db.session.expunge_all()
    data = client.get(f"/api/v1/posts/{post_id}").get_json()
    assert data["title"] == "Große Überschrift ✓"
    assert data["body"] == body
