"""Every list endpoint costs a fixed, small number of SQL statements and Redis round trips.

A page of 3 and a page of 30 must cost the same: a lazy load or a per-row lookup (an N+1)
would make the bigger page cost more, and these tests would say so.
"""

from __future__ import annotations

from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from flaskyard.extensions import db
from tests.support.api import JOBS, POSTS, UPLOADS
from tests.support.costs import Cost, counting
from tests.support.factories import make_user
from tests.support.fixtures import Accounts
from tests.support.jobs import start_job
from tests.uploads.test_routes import upload

ROWS = 30
SMALL, LARGE = 3, 30


def cost_of(
    app: APIFlask,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    headers: dict[str, str] | None = None,
) -> tuple[Cost, dict[str, Any]]:
    with counting(app, monkeypatch) as cost:
        response = client.get(path, headers=headers or {})
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return cost, body


def assert_fixed_cost(
    app: APIFlask,
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
    path: str,
    *,
    headers: dict[str, str] | None = None,
    max_statements: int,
    max_redis: int,
) -> None:
    # One request first, so one-off work (pool connections, Redis scripts) is not counted.
    cost_of(app, client, monkeypatch, f"{path}?per_page=1", headers)
    small, small_body = cost_of(app, client, monkeypatch, f"{path}?per_page={SMALL}", headers)
    large, large_body = cost_of(app, client, monkeypatch, f"{path}?per_page={LARGE}", headers)
    assert len(small_body["items"]) == SMALL
    assert len(large_body["items"]) == LARGE
    assert small == large, (small, large)
    assert large.statements <= max_statements, large
    assert large.redis_round_trips <= max_redis, large


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """The uncached posts path, so the list really reaches the database; room for ROWS jobs."""
    app_config["POSTS_CACHE"] = False
    app_config["JOB_MAX_ACTIVE_PER_USER"] = ROWS
    return app_config


def test_posts_list_with_attachments(
    app: APIFlask, client: FlaskClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    files = [upload(client, accounts.alice, f"notes-{n}.txt", b"notes\n") for n in range(2)]
    upload_ids = [response.get_json()["id"] for response in files]
    for n in range(ROWS):
        response = client.post(
            POSTS,
            json={"title": f"Post {n}", "body": "b", "upload_ids": upload_ids},
            headers=accounts.alice,
        )
        assert response.status_code == 201
    assert_fixed_cost(app, client, monkeypatch, POSTS, max_statements=2, max_redis=0)
    body = client.get(f"{POSTS}?per_page={LARGE}").get_json()
    assert all(len(item["attachments"]) == 2 for item in body["items"])


def test_uploads_list(
    app: APIFlask, client: FlaskClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(ROWS):
        assert upload(client, accounts.alice, f"notes-{n}.txt", b"notes\n").status_code == 201
    # Authentication (revocation lookup, user load) plus a count and a page.
    assert_fixed_cost(
        app, client, monkeypatch, UPLOADS, headers=accounts.alice, max_statements=4, max_redis=1
    )


def test_users_list(
    app: APIFlask, client: FlaskClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    with app.app_context():
        for n in range(ROWS):
            make_user(db.session, f"user{n:02d}")
        db.session.commit()
    assert_fixed_cost(
        app,
        client,
        monkeypatch,
        "/api/v1/users",
        headers=accounts.admin,
        max_statements=5,
        max_redis=1,
    )


def test_jobs_list_reads_rq_in_one_round_trip(
    app: APIFlask, client: FlaskClient, accounts: Accounts, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No worker runs, so every job stays queued and the list asks RQ for its live state.
    for _ in range(ROWS):
        start_job(client, accounts.alice, seconds=0, steps=1)
    assert_fixed_cost(
        app, client, monkeypatch, JOBS, headers=accounts.alice, max_statements=4, max_redis=2
    )
