"""Admins and jobs: every user's jobs, each naming its owner; any job's state, stream and cancel."""

from __future__ import annotations

from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis

from tests.support.api import JOBS, problem
from tests.support.fixtures import Accounts
from tests.support.jobs import (
    get_job,
    job_events,
    parse_sse,
    run_inline_worker,
    sse_stream,
    start_job,
)


def test_every_job_names_its_owner(client: FlaskClient, accounts: Accounts, redis: Redis) -> None:
    job = start_job(client, accounts.alice, seconds=0, steps=1)
    assert job["owner"] == {"id": str(accounts.ids["alice"]), "username": "alice"}
    assert get_job(client, accounts.alice, job["id"])["owner"]["username"] == "alice"
    [item] = client.get(JOBS, headers=accounts.alice).get_json()["items"]
    assert item["owner"] == job["owner"]


def test_admins_list_every_users_jobs_with_all(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    alice = [start_job(client, accounts.alice, seconds=0, steps=n)["id"] for n in (1, 2)]
    bob = start_job(client, accounts.bob, seconds=0, steps=1)["id"]
    root = start_job(client, accounts.admin, seconds=0, steps=1)["id"]

    everyone = client.get(f"{JOBS}?all=true", headers=accounts.admin)
    assert everyone.status_code == 200, everyone.get_data(as_text=True)
    page = everyone.get_json()
    assert page["total"] == 4
    assert [item["id"] for item in page["items"]] == [root, bob, *reversed(alice)]
    owners = [item["owner"]["username"] for item in page["items"]]
    assert owners == ["root", "bob", "alice", "alice"]
    paged = client.get(f"{JOBS}?all=true&per_page=1&page=2", headers=accounts.admin).get_json()
    assert [item["id"] for item in paged["items"]] == [bob] and paged["total"] == 4
    # Without all=true an admin sees their own jobs, like everyone.
    mine = client.get(JOBS, headers=accounts.admin).get_json()
    assert [item["id"] for item in mine["items"]] == [root]
    # Users may not ask for everyone's jobs.
    refused = problem(client.get(f"{JOBS}?all=true", headers=accounts.alice), 403)
    assert "admin" in refused["detail"]
    assert client.get(f"{JOBS}?all=false", headers=accounts.alice).get_json()["total"] == 2
    problem(client.get(f"{JOBS}?all=maybe", headers=accounts.admin), 422)


def test_admins_read_stream_and_cancel_any_job(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    queued = start_job(client, accounts.alice, seconds=0, steps=1)
    done = start_job(client, accounts.bob, seconds=0, steps=2)
    url = f"{JOBS}/{queued['id']}"

    seen = get_job(client, accounts.admin, queued["id"])
    assert seen["status"] == "queued" and seen["owner"]["username"] == "alice"
    canceled = client.delete(url, headers=accounts.admin)
    assert canceled.status_code == 202, canceled.get_data(as_text=True)
    assert get_job(client, accounts.alice, queued["id"])["status"] == "canceled"
    problem(client.delete(url, headers=accounts.admin), 409)

    run_inline_worker(app, ["default"])
    with sse_stream(client, accounts.admin, done["id"]) as chunks:
        blocks = parse_sse("".join(chunks))
    states = [block["data"] for block in job_events(blocks)]
    assert states and states[-1]["status"] == "finished"
    assert states[-1]["owner"]["username"] == "bob"
    # Still nobody else's business.
    problem(client.get(url, headers=accounts.bob), 404)
    problem(client.get(f"{JOBS}/{done['id']}/events", headers=accounts.alice), 404)
