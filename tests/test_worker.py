"""The ``flask worker`` command and the worker class: arguments, settings, heartbeat TTL."""

from __future__ import annotations

from typing import Any

import pytest
from apiflask import APIFlask
from redis import Redis
from rq import Queue
from rq.job import Job

from flaskyard.worker import FlaskyardWorker, run_worker
from tests.support.backends import SQLITE
from tests.support.fixtures import _isolated_redis, jobs_redis_url, redis

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
        assert worker.get_heartbeat_ttl(job) == interval + 15
        assert worker.get_heartbeat_ttl(Job.fetch(job.id, connection=redis)) == interval + 15


@SQLITE
def test_run_worker_applies_the_settings(
    app_config: dict[str, Any], request: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    request.getfixturevalue("redis")
    app_config.update(
        WORKER_MONITOR_INTERVAL=3, WORKER_MAINTENANCE_INTERVAL=7, WORKER_INLINE_QUEUES="high"
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
    assert worker.get_heartbeat_ttl(job) == 18


@SQLITE
def test_the_real_command_refuses_unknown_queues(app: APIFlask, redis: Redis) -> None:
    import subprocess
    import sys

    from tests.support.jobs import worker_env
    from tests.support.servers import ROOT

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
