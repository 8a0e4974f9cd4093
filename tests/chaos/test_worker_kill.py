"""Whole workers SIGKILLed mid-job: no orphan, jobs retried or failed within 20 s, books balance."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from redis import Redis
from rq import Queue, Worker
from rq.job import Job as RQJob
from rq.registry import StartedJobRegistry

from flaskyard.extensions import db
from tests.chaos.conftest import PASSWORD, report
from tests.support.api import JOBS
from tests.support.jobs import WorkerProcesses, get_job, start_job, wait_for
from tests.support.outages import OwnRedis, descendants, kill_all, wait_gone

#: The bound the worker must keep with its default settings, from the kill to the job's row
#: saying it runs again (or failed).
REAP_SECONDS = 20.0
#: Long enough to be killed mid-run; the retried job runs again in full.
JOB_SECONDS = 4
#: Linux delivers the parent-death signal at once; the scheduler then releases its locks.
ORPHAN_SECONDS = 5.0


@pytest.fixture
def redis(own_redis: OwnRedis) -> Iterator[Redis]:
    client = Redis.from_url(own_redis.url)
    yield client
    client.close()


@pytest.fixture
def workers(chaos_app: APIFlask, tmp_path: Path) -> Iterator[WorkerProcesses]:
    started = WorkerProcesses(chaos_app, tmp_path)
    yield started
    started.stop_all()


def _running(client: Any, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    return wait_for(
        lambda: (state := get_job(client, headers, job_id))["progress"] > 0 and state,
        timeout=30,
        interval=0.05,
        what=f"job {job_id} to report progress",
    )


def _worker_pid(redis: Redis, job_id: str) -> int:
    """The pid of the worker that runs ``job_id``."""
    name = RQJob.fetch(job_id, connection=redis).worker_name
    pids = {worker.name: worker.pid for worker in Worker.all(connection=redis)}
    pid = pids.get(name or "")
    assert pid is not None, f"no live worker runs job {job_id}"
    return pid


def test_a_killed_worker_leaves_no_orphan_and_its_job_is_retried_or_failed(
    chaos_app: APIFlask, redis: Redis, workers: WorkerProcesses
) -> None:
    client = chaos_app.test_client()
    signed_in = client.post(
        "/api/v1/auth/login", json={"username": "alice", "password": PASSWORD}
    ).get_json()
    headers = {"Authorization": f"Bearer {signed_in['access_token']}"}

    # Three workers with their defaults, two running jobs in-process, one forking a horse.
    processes = {
        process.pid: process
        for process in (
            workers.start("--queues", "default"),
            workers.start("--queues", "default"),
            workers.start("--queues", "default", WORKER_INLINE_QUEUES=""),
        )
    }
    forking_pid = list(processes)[2]
    workers.wait_listening(redis, 3)
    # One job for each of them.
    jobs = [start_job(client, headers, seconds=JOB_SECONDS, steps=60)["id"] for _ in range(3)]
    first_start = {job_id: _running(client, headers, job_id)["started_at"] for job_id in jobs}
    runs = {_worker_pid(redis, job_id): job_id for job_id in jobs}
    assert set(runs) == set(processes), (runs, list(processes))
    doomed = runs[forking_pid]
    retried, freed = (job_id for pid, job_id in runs.items() if pid != forking_pid)
    victims = [forking_pid, _worker_pid(redis, retried)]
    survivor = _worker_pid(redis, freed)
    # The forking worker's job has used up its retries: it must fail where its owner sees it.
    redis.hset(RQJob.key_for(doomed), "retries_left", "0")
    # Queued behind them: each must still run exactly once.
    enqueued = list(jobs)
    for _ in range(3):
        enqueued.append(start_job(client, headers, seconds=0.1, steps=1)["id"])
    enqueued.append(start_job(client, headers, seconds=0.1, steps=2, fail_at=1)["id"])

    family = [pid for victim in victims for pid in descendants(victim)]
    assert descendants(forking_pid), "the forking worker has no work horse running"
    try:
        for pid in victims:
            os.kill(pid, signal.SIGKILL)
        killed = time.monotonic()
        # The third worker is freed to notice: its job is canceled.
        assert client.delete(f"{JOBS}/{freed}", headers=headers).status_code == 202
        for pid in victims:
            processes[pid].wait(timeout=10)
        orphans = wait_gone(family, ORPHAN_SECONDS)
        children_gone = time.monotonic() - killed
        assert not orphans, f"processes outlived their killed worker: {orphans}"
    finally:
        kill_all(family)

    seen: dict[str, float] = {}

    def reaped() -> bool:
        again = get_job(client, headers, retried)
        # Queued again, or already taken by the other worker (a new start) or even done.
        rerun = again["started_at"] != first_start[retried]
        if "retried" not in seen and (again["status"] in ("queued", "finished") or rerun):
            seen["retried"] = time.monotonic() - killed
        failed = get_job(client, headers, doomed)
        if "failed" not in seen and failed["status"] == "failed":
            assert "abandoned" in failed["error"].lower(), failed
            seen["failed"] = time.monotonic() - killed
        return len(seen) == 2

    try:
        wait_for(reaped, timeout=REAP_SECONDS + 10, interval=0.1, what="the killed jobs reaped")
    except AssertionError as exc:
        lock = Queue("default", connection=redis).registry_cleaning_key
        raise AssertionError(
            f"{exc}: {seen}; cleaning lock ttl {redis.ttl(lock)}\n{workers.logs()}\n"
            f"{workers.log(processes[survivor])}"
        ) from None

    def all_ended() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = client.get(JOBS, headers=headers).get_json()["items"]
        return items if all(item["status"] not in ("queued", "started") for item in items) else None

    try:
        items = wait_for(all_ended, timeout=30, interval=0.2, what="every job to end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{workers.logs()}") from None
    listed = Counter(item["status"] for item in items)
    with chaos_app.app_context():
        rows = db.session.execute(sa.text("SELECT status, COUNT(*) FROM jobs GROUP BY status"))
        stored: Counter[str] = Counter({str(row[0]): int(row[1]) for row in rows})
    books = " + ".join(f"{s} {listed[s]}" for s in ("finished", "failed", "canceled", "queued"))
    report(
        f"worker SIGKILL (one in-process, one forking): {len(family)} child processes gone "
        f"in {children_gone:.1f} s; abandoned job queued again in {seen['retried']:.1f} s, "
        f"one without retries failed in {seen['failed']:.1f} s (bound {REAP_SECONDS:g} s); "
        f"enqueued {len(enqueued)} = {books}"
    )
    assert seen["retried"] <= REAP_SECONDS and seen["failed"] <= REAP_SECONDS, seen
    final = {item["id"]: item for item in items}
    assert sorted(final) == sorted(enqueued)
    assert final[retried]["status"] == "finished", final[retried]
    assert final[doomed]["status"] == "failed"
    assert final[freed]["status"] == "canceled"
    assert listed == stored, (listed, stored)
    total = listed["finished"] + listed["failed"] + listed["canceled"] + listed["queued"]
    assert len(enqueued) == total, listed
    assert listed == Counter(finished=4, failed=2, canceled=1)
    # Nothing left behind in RQ either: no job still counts as started.
    assert StartedJobRegistry("default", connection=redis).count == 0
