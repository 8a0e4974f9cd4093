"""The ``flask worker`` command and the worker class: settings, heartbeat TTL, reaping."""

from __future__ import annotations

import subprocess
import sys
import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import StartedJobRegistry

from flaskyard import worker as worker_module
from flaskyard.extensions import db
from flaskyard.jobs import services as jobs
from flaskyard.jobs.models import Job as JobRow
from flaskyard.worker import FlaskyardWorker, run_worker
from tests.support.api import auth_headers
from tests.support.backends import SQLITE
from tests.support.factories import UserFactory
from tests.support.fixtures import _isolated_redis, jobs_redis_url, redis
from tests.support.jobs import get_job, start_job, worker_env
from tests.support.servers import ROOT

__all__ = ["_isolated_redis", "jobs_redis_url", "redis"]


@SQLITE
@pytest.mark.parametrize("queues", ["nope", "default,nope", "", " , "])
def test_unknown_queues_are_refused(app: APIFlask, redis: Redis, queues: str) -> None:
    result = app.test_cli_runner().invoke(args=["worker", "--queues", queues, "--burst"])
    assert result.exit_code != 0
    assert "Queues must be among high, default, low" in result.output, result.output
    assert "--queues" in result.output


@SQLITE
def test_no_redis_is_a_clear_error(app_config: dict[str, Any], request: Any) -> None:
    request.getfixturevalue("redis")
    app_config["REDIS_URL"] = ""
    app = request.getfixturevalue("app")
    with app.app_context():  # as ``flask`` does; the test runner alone pushes none
        result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code == 1
    assert "REDIS_URL is not set" in result.output, result.output


def test_heartbeat_ttl_is_monitor_interval_plus_grace(redis: Redis) -> None:
    job = Queue("default", connection=redis).enqueue("builtins.print", job_timeout=600)
    for interval in (1, 5, 7):
        worker = FlaskyardWorker(
            [Queue("default", connection=redis)], connection=redis, job_monitoring_interval=interval
        )
        grace = worker.heartbeat_grace
        assert worker.get_heartbeat_ttl(job) == interval + grace
        assert worker.get_heartbeat_ttl(Job.fetch(job.id, connection=redis)) == interval + grace


@SQLITE
def test_run_worker_applies_the_settings(
    app_config: dict[str, Any], request: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    request.getfixturevalue("redis")
    app_config.update(
        WORKER_MONITOR_INTERVAL=3,
        WORKER_HEARTBEAT_GRACE=4,
        WORKER_MAINTENANCE_INTERVAL=7,
        WORKER_INLINE_QUEUES="high",
    )
    app = request.getfixturevalue("app")
    seen: dict[str, Any] = {}

    def work(self: FlaskyardWorker, **kwargs: Any) -> bool:
        seen.update(
            worker=self,
            kwargs=kwargs,
            queues=[queue.name for queue in self.queues],
        )
        return False

    monkeypatch.setattr(FlaskyardWorker, "work", work)
    assert run_worker(app, ["high", "low"], burst=True) is False
    worker = seen["worker"]
    assert seen["queues"] == ["high", "low"]
    assert worker.job_monitoring_interval == 3
    assert worker.maintenance_interval == 7
    assert worker.inline_queues == frozenset({"high"})
    assert seen["kwargs"]["burst"] is True and seen["kwargs"]["with_scheduler"] is True
    job = Queue("low", connection=worker.connection).enqueue("builtins.print")
    assert worker.get_heartbeat_ttl(job) == 7


@SQLITE
def test_the_real_command_refuses_unknown_queues(app: APIFlask, redis: Redis) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "flaskyard", "worker", "--queues", "nope"],
        cwd=ROOT,
        env=worker_env(app),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result
    assert "Invalid value for --queues" in result.stderr
    assert "Queues must be among high, default, low." in result.stderr
    assert "Traceback" not in result.stderr


def _abandon(redis: Redis, job_id: str) -> None:
    """Take ``job_id`` off its queue as a worker would, then let its heartbeat run out."""
    Queue("default", connection=redis).remove(job_id)
    registry = StartedJobRegistry("default", connection=redis)
    redis.zadd(registry.key, {f"{job_id}:dead-execution": 1})


@SQLITE
def test_abandoned_jobs_are_queued_again_or_failed_with_their_rows(
    app: APIFlask, redis: Redis, make_user: UserFactory
) -> None:
    make_user("alice")
    client = app.test_client()
    headers = auth_headers(client, "alice")
    again = start_job(client, headers, seconds=1, steps=1)
    spent = start_job(client, headers, seconds=1, steps=1)
    redis.hset(Job.key_for(spent["id"]), "retries_left", "0")
    for job_id in (again["id"], spent["id"]):
        _abandon(redis, job_id)
    worker = FlaskyardWorker([Queue("default", connection=redis)], connection=redis)
    with app.app_context():
        worker.clean_registries()

    queued = get_job(client, headers, again["id"])
    assert queued["status"] == "queued", queued
    # Queued again at once (no scheduler needed), yet later retries keep their back-off.
    requeued = Job.fetch(again["id"], connection=redis)
    assert requeued.get_status() == JobStatus.QUEUED
    assert requeued.retry_intervals and requeued.retries_left == 1
    assert Queue("default", connection=redis).job_ids == [again["id"]]
    failed = get_job(client, headers, spent["id"])
    assert failed["status"] == "failed" and failed["ended_at"] is not None, failed
    assert failed["error"] == jobs.ABANDONED_FAILED
    with app.app_context():
        rows = {row.id.hex: row for row in db.session.scalars(sa.select(JobRow))}
        assert rows[uuid.UUID(again["id"]).hex].message == jobs.ABANDONED_RETRYING


@SQLITE
def test_the_cleaning_lock_lasts_a_minute_and_is_released(
    app: APIFlask, redis: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = Queue("default", connection=redis)
    ttls: list[int] = []

    def clean(cleaned: Queue, handlers: Any = None) -> None:
        ttls.append(int(redis.ttl(cleaned.registry_cleaning_key)))  # type: ignore[arg-type]
        raise RuntimeError("cleanup broke")

    monkeypatch.setattr(worker_module, "clean_registries", clean)
    worker = FlaskyardWorker([queue], connection=redis)
    with app.app_context(), pytest.raises(RuntimeError, match="cleanup broke"):
        worker.clean_registries()
    # Held at most CLEANING_LOCK_SECONDS (RQ's own: 899 s), and let go even after a failure.
    assert ttls and 0 < ttls[0] <= worker_module.CLEANING_LOCK_SECONDS <= 60
    assert not redis.exists(queue.registry_cleaning_key)
