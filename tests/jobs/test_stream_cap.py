"""The per-user cap on open event streams: Redis leases that expire, and the 429 it answers."""

from __future__ import annotations

import time
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis

from flaskyard.core.leases import Leases
from tests.support.api import JOBS, problem
from tests.support.backends import SQLITE
from tests.support.fixtures import Accounts
from tests.support.jobs import start_job


def test_leases_cap_each_owner_and_come_back_on_release(redis: Redis) -> None:
    leases = Leases(redis, "test:leases:", seconds=30)
    other = Leases(redis, "test:leases:", seconds=30)  # another process
    held = [leases.acquire("alice", 3), other.acquire("alice", 3), leases.acquire("alice", 3)]
    assert all(held) and len(set(held)) == 3
    assert leases.acquire("alice", 3) is None
    assert other.acquire("alice", 3) is None
    assert leases.acquire("bob", 3) is not None  # per owner
    assert leases.count("alice") == 3
    other.release(str(held[1]))
    other.release(str(held[1]))  # twice: nothing more happens
    assert leases.count("alice") == 2
    assert leases.acquire("alice", 3) is not None
    assert leases.acquire("alice", 3) is None


def test_leases_of_a_process_that_stops_renewing_expire(redis: Redis) -> None:
    crashed = Leases(redis, "test:leases:", seconds=0.5)
    alive = Leases(redis, "test:leases:", seconds=0.5)
    assert crashed.acquire("alice", 2) is not None
    kept = alive.acquire("alice", 2)
    assert kept is not None
    assert alive.acquire("alice", 2) is None
    deadline = time.monotonic() + 1.5
    while time.monotonic() < deadline:  # the live process renews, the crashed one cannot
        alive.renew()
        time.sleep(0.1)
    assert alive.count("alice") == 1
    assert alive.acquire("alice", 2) is not None  # the crashed process's slot is free again
    ttl = redis.pttl("test:leases:alice")
    assert isinstance(ttl, int) and 0 < ttl <= 500  # the set itself does not outlive them


@pytest.fixture
def two_streams_each(app_config: dict[str, Any]) -> None:
    app_config["EVENTS_MAX_STREAMS_PER_USER"] = 2


@SQLITE
def test_one_stream_over_the_cap_is_429_until_one_closes(
    two_streams_each: None, app: APIFlask, client: FlaskClient, accounts: Accounts
) -> None:
    job = start_job(client, accounts.alice, seconds=600, steps=1)
    path = f"{JOBS}/{job['id']}/events"
    first = client.get(path, headers=accounts.alice, buffered=False)
    second = client.get(path, headers=accounts.alice, buffered=False)
    assert (first.status_code, second.status_code) == (200, 200)
    refused = client.get(path, headers=accounts.alice)
    body = problem(refused, 429)
    assert "2 event streams" in body["detail"]
    assert refused.headers["Retry-After"] == "5"
    # Another user has slots of their own.
    other_job = start_job(client, accounts.bob, seconds=600, steps=1)
    theirs = client.get(f"{JOBS}/{other_job['id']}/events", headers=accounts.bob, buffered=False)
    assert theirs.status_code == 200
    # Closing a stream gives its slot back.
    first.close()
    third = client.get(path, headers=accounts.alice, buffered=False)
    assert third.status_code == 200
    for response in (second, theirs, third):
        response.close()
