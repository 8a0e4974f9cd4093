"""Job progress as Server-Sent Events: order, end, heartbeats, resuming, one subscription."""

from __future__ import annotations

import math
import time
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis

from flaskyard.jobs import events, streams
from tests.support.backends import SQLITE, TWO_BACKENDS
from tests.support.fixtures import Accounts
from tests.support.jobs import (
    Watcher,
    job_events,
    parse_sse,
    run_inline_worker,
    sse_stream,
    start_job,
    wait_for,
)


def _assert_progress_story(states: list[dict[str, Any]], job_id: str) -> None:
    assert states, "no job events"
    assert all(state["id"] == job_id for state in states)
    progress = [state["progress"] for state in states]
    assert progress == sorted(progress), f"progress went backwards: {progress}"
    assert states[0]["status"] == "queued" and states[0]["progress"] == 0
    assert states[-1]["status"] == "finished" and states[-1]["progress"] == 100
    assert all(state["status"] != "finished" for state in states[:-1])


def _watch_a_run(
    app: APIFlask, client: FlaskClient, headers: dict[str, str], **params: float
) -> tuple[dict[str, Any], Watcher]:
    """Start a demo job, watch its stream, and run a worker until the job and stream end."""
    job = start_job(client, headers, "demo", **params)
    watcher = Watcher(app, headers, job["id"])
    watcher.start()
    assert watcher.first_event.wait(10)
    run_inline_worker(app, ["default"])
    watcher.finish()
    return job, watcher


def _pattern_subscriptions(redis: Redis) -> int:
    """How many pattern subscriptions the Redis server has (PUBSUB NUMPAT)."""
    count = redis.pubsub_numpat()
    assert isinstance(count, int), count
    return count


@TWO_BACKENDS
def test_progress_arrives_in_order_and_the_stream_ends(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    job, watcher = _watch_a_run(app, client, accounts.alice, seconds=1, steps=5)
    assert watcher.ended.is_set()
    blocks = watcher.blocks
    assert blocks[0] == {"retry": "3000"}
    states = watcher.jobs
    _assert_progress_story(states, job["id"])
    # Every step was seen: 0, 20, 40, 60, 80, 100 (some may be merged, most are not).
    assert len({state["progress"] for state in states}) >= 4, states
    ids = [block["id"] for block in job_events(blocks)]
    assert len(ids) == len(set(ids)), "an identical state was sent twice in a row"
    assert states[-1]["result"] == {"steps": 5, "seconds": 1.0}


@SQLITE
def test_heartbeats_during_a_long_step(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(streams, "HEARTBEAT_SECONDS", 0.2)
    _, watcher = _watch_a_run(app, client, accounts.alice, seconds=1.5, steps=1)
    blocks = watcher.blocks
    started = next(i for i, b in enumerate(blocks) if b.get("data", {}).get("status") == "started")
    finished = next(
        i for i, b in enumerate(blocks) if b.get("data", {}).get("status") == "finished"
    )
    beats = [b for b in blocks[started:finished] if b.get("comment") == "keep-alive"]
    assert len(beats) >= 3, watcher.text
    assert all(set(b) == {"comment"} for b in beats)


@SQLITE
def test_last_event_id_skips_a_state_already_seen(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    job = start_job(client, accounts.alice, seconds=0.3, steps=3)
    with sse_stream(client, accounts.alice, job["id"]) as chunks:
        text = ""
        for chunk in chunks:
            text += chunk
            if "event: job" in text:
                break
    queued = job_events(parse_sse(text))[0]
    assert queued["data"]["status"] == "queued"

    # Resuming from the queued state: the stream starts with the next state, not a repeat.
    watcher = Watcher(app, accounts.alice, job["id"], **{"Last-Event-ID": queued["id"]})
    watcher.start()
    wait_for(lambda: "retry:" in watcher.text, timeout=10, what="the stream to open")
    run_inline_worker(app, ["default"])
    watcher.finish()
    resumed = job_events(watcher.blocks)
    assert resumed, watcher.text
    assert queued["id"] not in [block["id"] for block in resumed]
    assert resumed[0]["data"]["status"] != "queued"
    assert resumed[-1]["data"]["status"] == "finished"

    # Resuming from the final state: nothing to send, and the stream ends at once.
    final_id = resumed[-1]["id"]
    response = client.get(
        f"/api/v1/jobs/{job['id']}/events", headers={**accounts.alice, "Last-Event-ID": final_id}
    )
    assert response.status_code == 200
    assert job_events(parse_sse(response.get_data(as_text=True))) == []
    # Without it, the final state is sent once.
    plain = client.get(f"/api/v1/jobs/{job['id']}/events", headers=accounts.alice)
    again = job_events(parse_sse(plain.get_data(as_text=True)))
    assert [block["id"] for block in again] == [final_id]


def _pattern_subscribers(redis: Redis) -> int:
    """Connections holding at least one pattern subscription."""
    clients = redis.client_list(_type="pubsub")
    assert isinstance(clients, list), clients
    return sum(1 for client in clients if int(client.get("psub", 0)))


@TWO_BACKENDS
def test_five_watchers_share_one_subscription_and_one_read_per_change(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    steps, seconds = 4, 1.0
    job = start_job(client, accounts.alice, seconds=seconds, steps=steps)
    # (A hub of an earlier test's app may still be closing its subscription.)
    wait_for(lambda: _pattern_subscriptions(redis) == 0, timeout=5, what="no hub")
    watchers = [Watcher(app, accounts.alice, job["id"]) for _ in range(5)]
    for watcher in watchers:
        watcher.start()
    for watcher in watchers:
        assert watcher.first_event.wait(10)
    # Five open streams, one pattern subscription on one connection.
    assert _pattern_subscriptions(redis) == 1
    assert _pattern_subscribers(redis) == 1
    with app.app_context():
        hub = events.get_hub()
    assert hub is app.extensions[events.EXTENSION_KEY]
    assert hub is not None
    before, started = hub.reads, time.monotonic()

    run_inline_worker(app, ["default"])
    for watcher in watchers:
        watcher.finish()
    reads, elapsed = hub.reads - before, time.monotonic() - started
    # Changes: started, one per step, finished; plus the hub's periodic re-reads (each read
    # serves every watcher). Five watchers reading for themselves would need five times this.
    changes = steps + 2
    polls = math.ceil(elapsed / events.POLL_SECONDS) + 1
    assert reads <= changes + polls, reads
    assert reads < 5 * changes
    states = [watcher.jobs for watcher in watchers]
    for seen in states:
        _assert_progress_story(seen, job["id"])
    assert all(seen == states[0] for seen in states), "watchers saw different stories"
    # The subscription goes away once nobody watches.
    wait_for(
        lambda: _pattern_subscriptions(redis) == 0,
        timeout=5,
        what="the hub to unsubscribe",
    )
