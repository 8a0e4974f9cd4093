"""Jobs under stress: time limits, retries, cancel mid-run, SIGTERM, SIGKILL, many at once."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from rq import Queue, Worker
from rq.executions import Execution
from rq.job import Job as RQJob
from rq.job import JobStatus

from flaskyard.broker import MISSING_KEY, get_redis, put_back
from flaskyard.extensions import db
from flaskyard.jobs import registry, services, upkeep
from flaskyard.jobs.runtime import JobFailed
from flaskyard.uploads import services as uploads
from flaskyard.uploads import storage
from flaskyard.worker import FlaskyardWorker
from tests.support.api import JOBS
from tests.support.apps import count_rows
from tests.support.backends import POSTGRES, SQLITE, TWO_BACKENDS
from tests.support.fixtures import Accounts
from tests.support.jobs import (
    WorkerProcesses,
    get_job,
    run_inline_worker,
    start_job,
    wait_for,
    wait_status,
)
from tests.support.servers import children

ATTEMPTS_KEY = "test:attempts"


# -- in-process worker: time limits and retries -----------------------------------------------


@TWO_BACKENDS
@pytest.mark.parametrize("queue", ["default", "low"], ids=["inline", "forked"])
def test_a_job_past_its_time_limit_fails(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
    queue: str,
) -> None:
    short = dataclasses.replace(registry.JOB_TYPES["demo"], timeout=lambda p: 1, queue=queue)
    monkeypatch.setitem(registry.JOB_TYPES, "demo", short)
    job = start_job(client, accounts.alice, seconds=5, steps=5)
    started = time.monotonic()
    run_inline_worker(app, [queue])
    assert time.monotonic() - started < 4.5, "the job was not stopped at its limit"
    failed = get_job(client, accounts.alice, job["id"])
    assert failed["status"] == "failed", failed
    assert "1 s limit" in failed["error"], failed["error"]
    assert failed["ended_at"] is not None


def _flaky(
    failures: int, error: type[BaseException]
) -> Callable[[uuid.UUID, dict[str, Any]], dict[str, Any]]:
    """A job function failing with ``error`` on its first ``failures`` attempts."""

    def run(job_id: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
        connection = get_redis()
        assert connection is not None
        attempt = connection.incr(ATTEMPTS_KEY)
        assert isinstance(attempt, int), attempt
        if attempt <= failures:
            raise error(f"blip number {attempt}")
        return {"attempts": attempt}

    return run


@dataclasses.dataclass
class Flaky:
    """Runs a ``flaky`` job, which fails its first attempts, on the in-process worker."""

    app: APIFlask
    client: FlaskClient
    headers: dict[str, str]
    redis: Redis
    monkeypatch: pytest.MonkeyPatch

    def run(
        self,
        *,
        failures: int,
        interval: int,
        error: type[BaseException] = RedisConnectionError,
    ) -> dict[str, Any]:
        """Start it with retries ``interval`` s apart, run a worker once; the job's state."""
        self.monkeypatch.setattr(services, "RETRY_INTERVALS", [interval])
        job_type = registry.JobType(
            "flaky", registry.NoParams, "default", _flaky(failures, error), lambda p: 30, retries=2
        )
        self.monkeypatch.setitem(registry.JOB_TYPES, "flaky", job_type)
        job = start_job(self.client, self.headers, "flaky")
        return self.run_worker_again(job["id"])

    def run_worker_again(self, job_id: str) -> dict[str, Any]:
        """Run the in-process worker once more; the job's state afterwards."""
        run_inline_worker(self.app, ["default"])
        return get_job(self.client, self.headers, job_id)

    @property
    def attempts(self) -> int:
        """How many times the job function ran."""
        value = self.redis.get(ATTEMPTS_KEY)
        assert value is None or isinstance(value, bytes), value
        return int(value or 0)


@pytest.fixture
def flaky(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> Flaky:
    """Alice's ``flaky`` jobs, run on the in-process worker."""
    return Flaky(app, client, accounts.alice, redis, monkeypatch)


@TWO_BACKENDS
def test_a_transient_error_is_retried_until_it_works(flaky: Flaky) -> None:
    done = flaky.run(failures=1, interval=0)
    assert done["status"] == "finished", done
    assert done["result"] == {"attempts": 2}
    assert done["error"] is None
    assert flaky.attempts == 2


@TWO_BACKENDS
def test_a_retry_waits_for_its_interval_and_shows_as_queued(flaky: Flaky) -> None:
    waiting = flaky.run(failures=1, interval=1)
    assert waiting["status"] == "queued", waiting
    assert waiting["ended_at"] is None and waiting["error"] is None
    time.sleep(1.2)
    # Its scheduler moves the due retry to the queue.
    done = flaky.run_worker_again(waiting["id"])
    assert done["status"] == "finished", done
    assert done["result"] == {"attempts": 2}


@SQLITE
def test_a_job_waiting_to_retry_says_why(flaky: Flaky) -> None:
    waiting = flaky.run(failures=1, interval=30)
    assert waiting["status"] == "queued", waiting
    assert "Retrying after a transient error: blip number 1" in waiting["message"], waiting


@TWO_BACKENDS
def test_retries_run_out(flaky: Flaky) -> None:
    failed = flaky.run(failures=10, interval=0)
    assert failed["status"] == "failed", failed
    assert "blip number 3" in failed["error"]
    assert flaky.attempts == 3  # the first run and two retries


@TWO_BACKENDS
@pytest.mark.parametrize("error", [JobFailed, ValueError], ids=["JobFailed", "bug"])
def test_a_permanent_error_is_not_retried(flaky: Flaky, error: type[BaseException]) -> None:
    failed = flaky.run(failures=10, interval=0, error=error)
    assert failed["status"] == "failed", failed
    assert "blip number 1" in failed["error"]
    assert flaky.attempts == 1


@TWO_BACKENDS
@pytest.mark.parametrize(
    "queues", [("high", "default", "low"), ("default",)], ids=["lpop", "lmove"]
)
def test_a_job_taken_off_its_queue_as_redis_goes_away_still_runs(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
    queues: tuple[str, ...],
) -> None:
    # Redis goes away after the worker popped the job's id and before it read the job. RQ pops
    # with LPOP from several queues and with LMOVE into an intermediate list from one.
    job = start_job(client, accounts.alice, seconds=0, steps=1)
    popped: list[str] = []
    failed: list[str] = []

    def pop_then_lose_redis(name: str) -> None:
        pop = getattr(Queue, name).__func__

        def pop_and_note(cls: type[Queue], *args: Any, **kwargs: Any) -> Any:
            result = pop(cls, *args, **kwargs)
            if result is not None:
                popped.append(result[1].decode())
            return result

        monkeypatch.setattr(Queue, name, classmethod(pop_and_note))

    pop_then_lose_redis("lpop")
    pop_then_lose_redis("lmove")
    fetch = RQJob.fetch.__func__  # type: ignore[attr-defined]

    def fetch_after_outage(cls: type[RQJob], /, job_id: str, **kwargs: Any) -> RQJob:
        if popped and not failed:  # the first read after a pop
            failed.append(job_id)
            raise RedisConnectionError("Connection closed by server.")
        job: RQJob = fetch(cls, job_id, **kwargs)
        return job

    monkeypatch.setattr(RQJob, "fetch", classmethod(fetch_after_outage))
    run_inline_worker(app, queues)
    assert failed == [job["id"]], "the worker never lost Redis while it read the job"
    done = get_job(client, accounts.alice, job["id"])
    assert done["status"] == "finished", done
    default = Queue("default", connection=redis)
    assert redis.llen(default.key) == 0, "the job was queued twice"
    assert redis.llen(default.intermediate_queue.key) == 0, "RQ would fail it from there later"


@TWO_BACKENDS
@pytest.mark.parametrize("queue", ["default", "low"], ids=["inline", "forked"])
def test_a_job_whose_start_redis_never_took_still_runs(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
    queue: str,
) -> None:
    # Redis goes away after the worker read the job and before it recorded the job as started:
    # the job is in no queue and no registry, and no heartbeat will lapse to bring it back.
    on_queue = dataclasses.replace(registry.JOB_TYPES["demo"], queue=queue)
    monkeypatch.setitem(registry.JOB_TYPES, "demo", on_queue)
    job = start_job(client, accounts.alice, seconds=0, steps=1)
    prepare = FlaskyardWorker.prepare_execution
    failed: list[str] = []

    def prepare_after_outage(worker: FlaskyardWorker, rq_job: RQJob) -> Any:
        if not failed:
            failed.append(rq_job.id)
            raise RedisConnectionError("Connection closed by server.")
        return prepare(worker, rq_job)

    monkeypatch.setattr(FlaskyardWorker, "prepare_execution", prepare_after_outage)
    run_inline_worker(app, ["high", "default", "low"])
    assert failed == [job["id"]], "the worker never lost Redis as it started the job"
    done = get_job(client, accounts.alice, job["id"])
    assert done["status"] == "finished", done
    assert redis.llen(Queue(queue, connection=redis).key) == 0, "the job was queued twice"


def test_a_job_goes_back_on_its_queue_only_when_nothing_else_will_run_it(redis: Redis) -> None:
    queue = Queue("default", connection=redis)
    job = queue.enqueue("builtins.print")
    put_back(redis, queue, job.id)
    assert queue.job_ids == [job.id], "a job still on its queue went on it twice"

    assert queue.pop_job_id() == job.id  # taken off, never started
    put_back(redis, queue, job.id)
    put_back(redis, queue, job.id)
    assert queue.job_ids == [job.id], "put back not exactly once"

    assert queue.pop_job_id() == job.id
    with redis.pipeline() as pipeline:  # a run RQ recorded: RQ retries or fails it itself
        Execution.create(job, 60, pipeline=pipeline)
        pipeline.execute()
    put_back(redis, queue, job.id)
    assert queue.job_ids == [], "a job RQ has running went back on its queue"

    redis.delete(queue.started_job_registry.key)
    put_back(redis, Queue("low", connection=redis), job.id)  # not its queue
    assert Queue("low", connection=redis).job_ids == [], "a job went on a queue not its own"
    for status in (JobStatus.STARTED, JobStatus.FINISHED, JobStatus.SCHEDULED):
        job.set_status(status)
        put_back(redis, queue, job.id)
        assert queue.job_ids == [], f"a {status.value} job went back on its queue"


@TWO_BACKENDS
def test_a_job_a_worker_took_and_never_started_is_queued_again(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A worker popped the job and died before starting it (or Redis lost its answer to the pop):
    # no queue, registry or error is left to bring the job back.
    monkeypatch.setattr(services, "LOST_AFTER_SECONDS", 0.5)
    job = start_job(client, accounts.alice, seconds=0, steps=1)
    waiting = start_job(client, accounts.alice, seconds=0, steps=1)  # still on its queue
    queue = Queue("default", connection=redis)
    assert queue.pop_job_id() == job["id"]
    missing = MISSING_KEY.format(job["id"])
    with app.app_context():
        upkeep.reconcile_stale()
        assert queue.job_ids == [waiting["id"]], "put back at the first sighting"
        assert redis.exists(missing), "not seen missing"
        time.sleep(0.6)
        upkeep.reconcile_stale()
        assert queue.job_ids == [job["id"], waiting["id"]], "not queued again, at the front"
        assert not redis.exists(missing)
        assert not redis.exists(MISSING_KEY.format(waiting["id"]))
        upkeep.reconcile_stale()
        assert queue.job_ids == [job["id"], waiting["id"]], "queued twice"
    run_inline_worker(app, ["high", "default", "low"])
    for started in (job, waiting):
        done = get_job(client, accounts.alice, started["id"])
        assert done["status"] == "finished", done


# -- worker processes: cancel, SIGTERM, SIGKILL ------------------------------------------------


def _wait_running(client: FlaskClient, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    def running() -> dict[str, Any] | None:
        state = get_job(client, headers, job_id)
        return state if state["progress"] > 0 else None

    return wait_for(
        running,
        timeout=30,
        interval=0.05,
        what=f"job {job_id} to report progress",
    )


@pytest.mark.slow
@POSTGRES
def test_cancel_a_running_job(
    client: FlaskClient, accounts: Accounts, redis: Redis, workers: WorkerProcesses
) -> None:
    worker = workers.start("--queues", "default")
    job = start_job(client, accounts.alice, seconds=10, steps=50)
    _wait_running(client, accounts.alice, job["id"])
    response = client.delete(f"{JOBS}/{job['id']}", headers=accounts.alice)
    assert response.status_code == 202, response.get_data(as_text=True)
    asked = time.monotonic()
    canceled = wait_status(client, accounts.alice, job["id"], timeout=10)
    took = time.monotonic() - asked
    assert canceled["status"] == "canceled", canceled
    assert took < 2.5, f"cancel took {took:.1f} s"
    assert 0 < canceled["progress"] < 100
    assert canceled["result"] is None and canceled["ended_at"] is not None
    assert canceled["message"] == "Canceled by its owner."
    # The worker is fine and runs the next job.
    follow_up = start_job(client, accounts.alice, seconds=0, steps=1)
    assert wait_status(client, accounts.alice, follow_up["id"])["status"] == "finished"
    assert worker.poll() is None


@pytest.mark.slow
@POSTGRES
def test_sigterm_lets_the_running_job_finish(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    workers: WorkerProcesses,
) -> None:
    worker = workers.start("--queues", "default")
    job = start_job(client, accounts.alice, seconds=4, steps=8)
    later = start_job(client, accounts.alice, seconds=0, steps=1)
    _wait_running(client, accounts.alice, job["id"])
    time.sleep(0.5)
    worker.send_signal(signal.SIGTERM)
    code = worker.wait(timeout=20)
    assert code == 0, workers.log(worker)
    done = get_job(client, accounts.alice, job["id"])
    assert done["status"] == "finished", done
    assert done["progress"] == 100
    # The worker stopped after that job: the next one waits, queued, for another worker.
    assert get_job(client, accounts.alice, later["id"])["status"] == "queued"
    assert Queue("default", connection=redis).job_ids == [later["id"]]
    assert "warm shut down" in workers.log(worker).lower()
    run_inline_worker(app, ["default"])
    assert get_job(client, accounts.alice, later["id"])["status"] == "finished"


def _scheduler_pids(redis: Redis) -> list[int]:
    pids: list[object] = [redis.hget(key, "pid") for key in redis.scan_iter("rq:scheduler:*")]
    return [int(pid) for pid in pids if isinstance(pid, bytes)]


@pytest.mark.slow
@POSTGRES
@pytest.mark.parametrize("retries_left", [None, 0], ids=["retried", "spent"])
def test_sigkill_of_a_work_horse_retries_or_fails_its_job(
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    workers: WorkerProcesses,
    retries_left: int | None,
) -> None:
    job = start_job(client, accounts.alice, seconds=3, steps=30)
    later = start_job(client, accounts.alice, seconds=0, steps=1)
    if retries_left is not None:
        # Before any worker holds the job: the worker judges a dead horse by its own copy.
        redis.hset(f"rq:job:{job['id']}", "retries_left", str(retries_left))
    worker = workers.start("--queues", "default", WORKER_INLINE_QUEUES="")  # fork per job
    _wait_running(client, accounts.alice, job["id"])
    # Its other child is RQ's scheduler, which registers its pid.
    scheduler = set(_scheduler_pids(redis))
    horses = set(children(worker.pid)) - scheduler
    assert len(horses) == 1, (scheduler, children(worker.pid))
    os.kill(horses.pop(), signal.SIGKILL)
    killed = time.monotonic()
    if retries_left is None:
        # demo is idempotent: queued again (after the first back-off) and run in full.
        wait_status(client, accounts.alice, job["id"], ("queued",), timeout=10)
        done = wait_status(client, accounts.alice, job["id"], timeout=30)
        assert done["status"] == "finished" and done["progress"] == 100, done
        print(
            f"\nwork horse SIGKILL -> job retried and finished in {time.monotonic() - killed:.1f} s"
        )
    else:
        failed = wait_status(client, accounts.alice, job["id"], timeout=10)
        assert failed["status"] == "failed", failed
        assert "horse" in failed["error"].lower(), failed["error"]
        assert failed["progress"] > 0
        print(f"\nwork horse SIGKILL -> job failed in {time.monotonic() - killed:.1f} s")
    # The worker survived its horse and goes on.
    assert wait_status(client, accounts.alice, later["id"])["status"] == "finished"
    assert worker.poll() is None


@pytest.mark.slow
@POSTGRES
def test_sigkill_of_an_inline_worker_is_recovered_by_another(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    workers: WorkerProcesses,
) -> None:
    fast = {"WORKER_MONITOR_INTERVAL": 1, "WORKER_MAINTENANCE_INTERVAL": 1}
    first = workers.start("--queues", "default", **fast)
    victim = start_job(client, accounts.alice, seconds=4, steps=40)
    behind = start_job(client, accounts.alice, seconds=0, steps=1)
    running = _wait_running(client, accounts.alice, victim["id"])
    workers.kill(first, signal.SIGKILL)
    killed = time.monotonic()
    workers.start("--queues", "default", **fast)
    # The bound: a missed heartbeat shows after monitor interval + the grace, and the next
    # registry cleanup comes within one maintenance interval (plus a worker's start).
    bound = 1 + 6 + 1 + 8

    def retried() -> bool:
        # Queued again, or already run again by the other worker (a new start).
        state = get_job(client, accounts.alice, victim["id"])
        return bool(state["status"] == "queued" or state["started_at"] != running["started_at"])

    wait_for(retried, timeout=bound, interval=0.05, what="the abandoned job to be retried")
    print(f"\nSIGKILL of an inline worker -> job queued again in {time.monotonic() - killed:.1f} s")
    # demo is idempotent: its retry runs it again in full, on the other worker.
    state = wait_status(client, accounts.alice, victim["id"], timeout=30)
    assert state["status"] == "finished", state
    assert state["progress"] == 100 >= running["progress"]
    assert wait_status(client, accounts.alice, behind["id"])["status"] == "finished"
    # Nothing lost: every job the test enqueued ended, and the row agrees with RQ.
    listed = client.get(JOBS, headers=accounts.alice).get_json()
    statuses = [item["status"] for item in listed["items"]]
    assert listed["total"] == count_rows("jobs", app=app) == len(statuses)
    assert statuses.count("finished") == len(statuses), statuses


# -- many jobs writing to the database at once --------------------------------------------------


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """Room for the hundred jobs one user queues at once below, under the per-user job cap."""
    app_config["JOB_MAX_ACTIVE_PER_USER"] = 200
    return app_config


@pytest.mark.slow
@POSTGRES
def test_a_hundred_imports_on_three_workers(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    workers: WorkerProcesses,
) -> None:
    count = 100
    upload_ids = []
    with app.app_context():
        for n in range(count):
            data = json.dumps(
                [{"title": f"Post {n}a", "body": "first"}, {"title": f"Post {n}b", "body": "2nd"}]
            ).encode()
            stored = storage.store_bytes(
                data, filename=f"posts-{n}.json", upload_dir=uploads.upload_dir()
            )
            record = uploads.record(
                session=db.session, owner_id=accounts.ids["alice"], stored=stored
            )
            upload_ids.append(str(record.id))
        db.session.commit()
    started = time.monotonic()
    workers.start("--queues", "low", WORKER_INLINE_QUEUES="")  # forks a horse per job
    workers.start("--queues", "low", WORKER_INLINE_QUEUES="low")  # runs them in-process
    workers.start("--queues", "low", WORKER_INLINE_QUEUES="low")
    workers.wait_listening(redis, 3)
    # Enqueued while the three workers already take them.
    job_ids = [
        start_job(client, accounts.alice, "import_posts", upload_id=upload_id)["id"]
        for upload_id in upload_ids
    ]

    def all_ended() -> bool:
        page = client.get(f"{JOBS}?per_page=100", headers=accounts.alice).get_json()
        return all(item["status"] in ("finished", "failed") for item in page["items"])

    wait_for(all_ended, timeout=120, interval=0.5, what=f"100 imports\n{workers.logs()}")
    print(f"\n100 imports on 3 workers: {time.monotonic() - started:.1f} s (with worker start)")
    states = [get_job(client, accounts.alice, job_id) for job_id in job_ids]
    errors = [(s["status"], s["error"]) for s in states if s["status"] != "finished"]
    assert not errors, errors
    assert all(s["result"]["imported"] == 2 and s["result"]["failed"] == 0 for s in states)
    assert count_rows("posts", app=app) == 2 * count
    assert count_rows("posts", "source IS NOT NULL", app=app) == 2 * count
    logs = workers.logs().lower()
    assert "operationalerror" not in logs and "too many connections" not in logs
    # Each worker did some of the work.
    done = [w.successful_job_count for w in Worker.all(connection=redis)]
    assert len(done) == 3 and all(n > 0 for n in done), done
