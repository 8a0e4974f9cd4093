"""The jobs API: create, validate, look up, list, cancel, and running jobs with a worker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis
from rq import Queue
from rq.job import Job as RQJob
from rq.job import JobStatus

from flaskyard.auth.tokens import issue_pair
from flaskyard.broker import EXTENSION_KEY
from flaskyard.extensions import db
from tests.support.api import JOBS, bearer, problem
from tests.support.apps import count_rows
from tests.support.backends import SQLITE
from tests.support.factories import make_user
from tests.support.fixtures import Accounts
from tests.support.jobs import get_job, run_inline_worker, start_job, wait_status

JOB_KEYS = {
    "id",
    "type",
    "status",
    "progress",
    "message",
    "result",
    "error",
    "created_at",
    "started_at",
    "ended_at",
}


def test_create_demo_is_queued(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    response = client.post(
        JOBS, json={"type": "demo", "params": {"seconds": 1, "steps": 2}}, headers=accounts.alice
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    body = response.get_json()
    assert JOB_KEYS <= body.keys()
    assert uuid.UUID(body["id"])
    assert body["type"] == "demo"
    assert body["status"] == "queued"
    assert body["progress"] == 0
    assert body["result"] is None and body["error"] is None
    assert body["started_at"] is None and body["ended_at"] is None
    assert body["created_at"].endswith("+00:00")
    assert response.headers["Location"].endswith(f"{JOBS}/{body['id']}")
    # The Location answers, the row exists, and RQ holds the job on the demo's queue.
    assert client.get(response.headers["Location"], headers=accounts.alice).status_code == 200
    assert count_rows("jobs", app=app) == 1
    assert Queue("default", connection=redis).job_ids == [body["id"]]
    assert RQJob.fetch(body["id"], connection=redis).get_status() == JobStatus.QUEUED


@SQLITE  # validation needs no DB variety
@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"type": "nope", "params": {}}, "type"),
        ({"type": "demo", "params": {"steps": 0}}, "steps"),
        ({"type": "demo", "params": {"seconds": 601}}, "seconds"),
        ({"type": "demo", "params": {"seconds": -1}}, "seconds"),
        ({"type": "demo", "params": {"steps": 3, "fail_at": 4}}, "fail_at"),
        ({"type": "demo", "params": {"steps": "many"}}, "steps"),
        ({"type": "demo", "params": [1, 2]}, "params"),
        ({"type": "import_posts", "params": {}}, "upload_id"),
        ({"type": "import_posts", "params": {"upload_id": "not-a-uuid"}}, "upload_id"),
        ({"params": {}}, "type"),
    ],
    ids=[
        "unknown-type",
        "steps-0",
        "seconds-601",
        "seconds-negative",
        "fail_at-past-steps",
        "steps-not-int",
        "params-list",
        "upload-missing",
        "upload-not-uuid",
        "type-missing",
    ],
)
def test_invalid_requests_are_422(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    payload: dict[str, Any],
    field: str,
) -> None:
    body = problem(client.post(JOBS, json=payload, headers=accounts.alice), 422)
    assert "errors" in body
    assert field in repr(body["errors"]), body
    assert count_rows("jobs", app=app) == 0
    assert Queue("default", connection=redis).count == 0


def test_other_users_job_looks_absent(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    job = start_job(client, accounts.alice, seconds=0, steps=1)
    url = f"{JOBS}/{job['id']}"
    problem(client.get(url, headers=accounts.bob), 404)
    problem(client.delete(url, headers=accounts.bob), 404)
    problem(client.get(f"{url}/events", headers=accounts.bob), 404)
    problem(client.get(f"{JOBS}/{uuid.uuid4()}", headers=accounts.alice), 404)
    # Bob's attempts changed nothing (admins may look: tests/jobs/test_admin.py).
    assert get_job(client, accounts.alice, job["id"])["status"] == "queued"
    assert client.get(JOBS, headers=accounts.bob).get_json()["total"] == 0


def test_list_is_mine_newest_first(client: FlaskClient, accounts: Accounts, redis: Redis) -> None:
    mine = [start_job(client, accounts.alice, seconds=0, steps=n)["id"] for n in (1, 2, 3)]
    start_job(client, accounts.bob, seconds=0, steps=1)
    response = client.get(JOBS, headers=accounts.alice)
    assert response.status_code == 200
    body = response.get_json()
    assert body["total"] == 3
    assert [item["id"] for item in body["items"]] == mine[::-1]
    assert all(JOB_KEYS <= item.keys() for item in body["items"])
    paged = client.get(f"{JOBS}?per_page=2&page=2", headers=accounts.alice).get_json()
    assert [item["id"] for item in paged["items"]] == [mine[0]]


def test_anonymous_is_401(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    job = start_job(client, accounts.alice, seconds=0, steps=1)
    for method, url in [
        ("POST", JOBS),
        ("GET", JOBS),
        ("GET", f"{JOBS}/{job['id']}"),
        ("DELETE", f"{JOBS}/{job['id']}"),
        ("GET", f"{JOBS}/{job['id']}/events"),
    ]:
        response = client.open(url, method=method, json={"type": "demo", "params": {}})
        problem(response, 401)
    assert count_rows("jobs", app=app) == 1


def test_redis_down_is_503_and_leaves_no_row(
    app: APIFlask, client: FlaskClient, accounts: Accounts
) -> None:
    clients = app.extensions[EXTENSION_KEY]
    healthy = clients["main"]
    clients["main"] = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    try:
        response = client.post(JOBS, json={"type": "demo", "params": {}}, headers=accounts.alice)
    finally:
        clients["main"].close()
        clients["main"] = healthy
    body = problem(response, 503)
    assert "queue" in body["detail"].lower()
    assert count_rows("jobs", app=app) == 0
    assert client.get(JOBS, headers=accounts.alice).get_json()["total"] == 0


def test_demo_runs_to_the_end(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    job = start_job(client, accounts.alice, seconds=0.2, steps=4)
    assert run_inline_worker(app, ["default"]) is True
    done = get_job(client, accounts.alice, job["id"])
    assert done["status"] == "finished"
    assert done["progress"] == 100
    assert done["result"] == {"steps": 4, "seconds": 0.2}
    assert done["error"] is None
    assert done["message"] == "Step 4 of 4"
    assert done["created_at"] <= done["started_at"] <= done["ended_at"]
    assert RQJob.fetch(job["id"], connection=redis).get_status() == JobStatus.FINISHED


def test_fail_at_names_the_step(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    job = start_job(client, accounts.alice, seconds=0.1, steps=4, fail_at=2)
    run_inline_worker(app, ["default"])
    failed = get_job(client, accounts.alice, job["id"])
    assert failed["status"] == "failed"
    assert failed["error"] == "Failed at step 2 of 4, as asked."
    assert failed["progress"] == 25  # step 1 was reported, step 2 was not
    assert failed["result"] is None
    assert failed["ended_at"] is not None


def test_cancel_a_queued_job(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    job = start_job(client, accounts.alice, seconds=0, steps=1)
    response = client.delete(f"{JOBS}/{job['id']}", headers=accounts.alice)
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.get_json()["status"] == "canceled"
    assert Queue("default", connection=redis).count == 0
    assert run_inline_worker(app, ["default"]) is False  # nothing left to run
    after = get_job(client, accounts.alice, job["id"])
    assert after["status"] == "canceled"
    assert after["started_at"] is None
    assert after["result"] is None
    # Canceling twice: it already ended.
    problem(client.delete(f"{JOBS}/{job['id']}", headers=accounts.alice), 409)


def test_cancel_a_finished_job_is_409(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    job = start_job(client, accounts.alice, seconds=0, steps=1)
    run_inline_worker(app, ["default"])
    wait_status(client, accounts.alice, job["id"], ("finished",), timeout=5)
    body = problem(client.delete(f"{JOBS}/{job['id']}", headers=accounts.alice), 409)
    assert "finished" in body["detail"]
    assert get_job(client, accounts.alice, job["id"])["status"] == "finished"


@SQLITE
def test_redis_unreachable_from_the_start(app_config: dict[str, Any], request: Any) -> None:
    """REDIS_URL names a port nothing listens on (tokens checked against the database)."""
    request.getfixturevalue("redis")
    app_config.update(REDIS_URL="redis://127.0.0.1:1/0", TOKEN_BLOCKLIST="database")
    app: APIFlask = request.getfixturevalue("app")

    with app.app_context():
        user = make_user(db.session, "carol", email="c@example.com")
        db.session.commit()
        headers = bearer(issue_pair(user)["access_token"])  # login itself needs the limiter
    client = app.test_client()
    body = problem(client.post(JOBS, json={"type": "demo", "params": {}}, headers=headers), 503)
    assert "queue" in body["detail"].lower()
    assert count_rows("jobs", app=app) == 0
    assert client.get(JOBS, headers=headers).get_json()["total"] == 0


@SQLITE
def test_one_user_may_queue_only_so_many_jobs(
    app_config: dict[str, Any],
    two_active_jobs_each: None,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
) -> None:
    start_job(client, accounts.alice, steps=1)
    start_job(client, accounts.alice, steps=1)
    body = problem(
        client.post(JOBS, json={"type": "demo", "params": {}}, headers=accounts.alice), 429
    )
    assert "at most 2" in body["detail"]
    start_job(client, accounts.bob, steps=1)  # a cap per user, not for everyone


@pytest.fixture
def two_active_jobs_each(app_config: dict[str, Any]) -> None:
    app_config["JOB_MAX_ACTIVE_PER_USER"] = 2
