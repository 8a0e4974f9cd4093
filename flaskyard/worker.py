"""The RQ worker entry point: builds the app once, runs jobs inside its app context.

Short trusted queues (``high``, ``default``) run jobs in the worker process itself, which
skips RQ's fork per job; ``low`` (exports, imports, thumbnails: long or parsing untrusted
files) still forks a work horse per job for crash isolation. Inline jobs keep heartbeating
from a side thread, so a worker killed mid-job is noticed as quickly as a forking one.

The worker is also where job rows catch up with what RQ decided on its own (a killed work
horse, an abandoned job): after each forked job and in every maintenance pass.

A whole worker killed (SIGKILL, out of memory) takes its children with it: the work horse and
the scheduler process ask Linux for a signal when their parent dies, so neither runs on as an
orphan. Its job misses its heartbeats and any other worker (or the restarted one) retries it,
or fails it when it has no retries left, within heartbeat TTL + maintenance interval.
"""

from __future__ import annotations

import ctypes
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any

from flask import Flask, current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue, Worker, worker_registration
from rq.defaults import DEFAULT_LOGGING_DATE_FORMAT, DEFAULT_LOGGING_FORMAT
from rq.exceptions import AbandonedJobError
from rq.job import Job
from rq.registry import clean_registries
from rq.scheduler import RQScheduler
from rq.utils import now
from rq.worker import WorkerStatus

from flaskyard.broker import QUEUE_NAMES, KeepingQueue, get_redis, put_back, wait_for_redis
from flaskyard.extensions import db
from flaskyard.jobs import upkeep
from flaskyard.logs import bound_request_id
from flaskyard.metrics import serve_worker_metrics
from flaskyard.settings import get_settings

log = logging.getLogger("flaskyard.worker")

#: prctl(2) option: the signal this process gets when the thread that forked it exits.
_PR_SET_PDEATHSIG = 1
#: Seconds a queue's registry-cleaning lock outlives a worker killed while holding it. RQ's
#: own lasts 15 minutes, keeping every other worker from reaping that long; a cleanup takes
#: milliseconds, and a worker may die in one (it also cleans from a busy job's heartbeat).
CLEANING_LOCK_SECONDS = 15


def die_with_parent(sig: int, parent: int) -> None:
    """Have Linux send ``sig`` to this process when ``parent``, which forked it, exits.

    Elsewhere this does nothing: the children then outlive a killed worker, as RQ's do.
    """
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, sig, 0, 0, 0) != 0:
        log.warning("prctl(PR_SET_PDEATHSIG) failed: %s", os.strerror(ctypes.get_errno()))
        return
    if os.getppid() != parent:  # the parent died before the request took hold
        os.kill(os.getpid(), sig)


class BoundScheduler(RQScheduler):
    """RQ's scheduler process, stopped (SIGTERM: it releases its locks) when its worker dies."""

    _parent = 0

    def start(self) -> Any:
        self._parent = os.getpid()
        return super().start()  # type: ignore[no-untyped-call]

    def work(self) -> None:
        # Runs in the forked scheduler process.
        die_with_parent(signal.SIGTERM, self._parent)
        super().work()  # type: ignore[no-untyped-call]


class FlaskyardWorker(Worker):
    """RQ's Worker, but jobs from ``inline_queues`` run in-process with a heartbeat thread."""

    inline_queues: frozenset[str] = frozenset({"high", "default"})
    #: Seconds a started job may go without a heartbeat before it counts as abandoned.
    heartbeat_grace = 6

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._parent_pid = os.getpid()
        # Jobs the current registry cleanup found abandoned: (RQ job id, retried?).
        self._abandoned: list[tuple[str, bool]] = []
        self._cleaned = False
        self.push_exc_handler(self._note_abandoned)  # type: ignore[no-untyped-call]

    def execute_job(self, job: Job, queue: Queue) -> None:
        started = time.perf_counter()
        try:
            self._execute(job, queue)
        except (RedisConnectionError, RedisTimeoutError):
            # RQ quits on a Redis error outside its dequeue loop, so a Redis blip while a job
            # ends would take the worker down with it. A job RQ recorded as started needs
            # nothing more from here: its lapsed heartbeat gets it retried or failed by RQ.
            # One whose start Redis never took would run nowhere: it goes back on its queue.
            log.warning("Redis went away while job %s ran; waiting for it", job.id, exc_info=True)
            if self._horse_pid:
                self.kill_horse()  # its heartbeats stopped: it is retried, not run twice at once
                self.wait_for_horse()
            put_back(self.connection, queue, job.id)
        finally:
            upkeep.observe(job.id, time.perf_counter() - started)

    # RQ's main loop quits on a Redis error anywhere but in its dequeue; these are its other
    # calls to Redis between jobs, made to wait for Redis instead, as the dequeue does.

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        if pipeline is not None:  # part of a bigger write; its caller handles the error
            super().heartbeat(timeout, pipeline)
            return
        self._patiently(lambda: super(FlaskyardWorker, self).heartbeat(timeout))

    def check_for_suspension(self, burst: bool) -> None:
        self._patiently(lambda: super(FlaskyardWorker, self).check_for_suspension(burst))

    def _patiently(self, call: Callable[[], object]) -> None:
        while True:
            try:
                call()
                return
            except (RedisConnectionError, RedisTimeoutError) as exc:
                log.warning("Redis is unavailable (%s); waiting for it", exc)
                wait_for_redis(self.connection)

    def perform_job(self, job: Job, queue: Queue) -> Any:
        # Runs in this process for inline queues and in the work horse otherwise: either way
        # every line the job logs carries the id of the request that enqueued it.
        with bound_request_id(job.meta.get("request_id")):
            return super().perform_job(job, queue)

    def main_work_horse(self, job: Job, queue: Queue) -> None:
        # In the forked horse: a job whose worker is gone must not run on beside its retry.
        die_with_parent(signal.SIGKILL, self._parent_pid)
        super().main_work_horse(job, queue)

    def _start_scheduler(
        self,
        burst: bool = False,
        logging_level: str | None = "INFO",
        date_format: str = DEFAULT_LOGGING_DATE_FORMAT,
        log_format: str = DEFAULT_LOGGING_FORMAT,
    ) -> None:
        # RQ's own steps, with a scheduler process that does not outlive this worker.
        self.scheduler = BoundScheduler(
            self.queues,
            connection=self.connection,
            logging_level=logging_level if logging_level is not None else self.log.level,
            date_format=date_format,
            log_format=log_format,
            serializer=self.serializer,
        )
        self.scheduler.acquire_locks()  # type: ignore[no-untyped-call]
        if not self.scheduler.acquired_locks:
            return
        if not burst:
            self.scheduler.start()
            return
        try:
            self.scheduler.register_birth()
            self.scheduler.enqueue_scheduled_jobs()  # type: ignore[no-untyped-call]
        finally:
            self.scheduler.release_locks()  # type: ignore[no-untyped-call]
            self.scheduler.register_death()

    def _execute(self, job: Job, queue: Queue) -> None:
        if queue.name not in self.inline_queues:
            self._parent_pid = os.getpid()
            super().execute_job(job, queue)
            # The horse may have died without writing its end; RQ has recorded it by now.
            upkeep.reconcile_one(job.id)
            return
        self.prepare_execution(job)
        done = threading.Event()
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        beat = threading.Thread(target=self._beat, args=(app, job, done), daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue)
        finally:
            done.set()
            beat.join()
            db.session.remove()
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, app: Flask, job: Job, done: threading.Event) -> None:
        # Its own app context: the registry cleanup it may run writes job rows.
        with app.app_context():
            while not done.wait(self.job_monitoring_interval):
                try:
                    self.maintain_heartbeats(job)
                except Exception:  # a missed beat is survivable; a dead thread is not
                    log.warning("heartbeat for job %s failed", job.id, exc_info=True)

    def maintain_heartbeats(self, job: Job) -> None:
        super().maintain_heartbeats(job)
        # Called every job_monitoring_interval while a job runs (inline or forked): a worker
        # busy with a long job still reaps the jobs of workers that died meanwhile. Only the
        # registries: the scheduler is (re)started from the main loop, never from here.
        if self.should_run_maintenance_tasks:
            self.clean_registries()
            self._reconcile_rows()

    def clean_registries(self) -> None:
        """RQ's registry cleanup, under a lock that a killed worker leaves for 60 s, not 15 min."""
        for queue in self.queues:
            # One worker at a time cleans a queue; the others skip it this round.
            if not self.connection.set(
                queue.registry_cleaning_key, 1, nx=True, ex=CLEANING_LOCK_SECONDS
            ):
                continue
            try:
                clean_registries(queue, self._exc_handlers)
                worker_registration.clean_worker_registry(queue)
                queue.intermediate_queue.cleanup(self, queue)
            finally:
                queue.release_maintenance_lock()  # type: ignore[no-untyped-call]
            self._record_abandoned()
            self._cleaned = True
        self.last_cleaned_at = now()  # type: ignore[assignment]

    def _note_abandoned(
        self,
        job: Job,
        exc_type: type[BaseException],
        exc_value: BaseException,
        tb: TracebackType | Any,
    ) -> bool:
        # An RQ exception handler: RQ calls it for every failed job, and from the registry
        # cleanup for a job whose worker stopped heartbeating, which it then retries when
        # retries are left (the test below) or fails.
        if issubclass(exc_type, AbandonedJobError):
            retrying = bool(job.retries_left and job.retries_left > 0)
            if retrying:
                # Queued again at once, not after the back-off meant for transient errors:
                # nothing failed, and a scheduled retry would wait for a scheduler that may
                # have died with the same worker. Only this object forgets the intervals (RQ
                # saves a job without writing absent fields), so later retries still back off.
                job.retry_intervals = None
            self._abandoned.append((job.id, retrying))
        return True  # let the other handlers run

    def _record_abandoned(self) -> None:
        found, self._abandoned = self._abandoned, []
        upkeep.record_abandoned(found)

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # Skipped this round (RQ would quit the worker); the dequeue waits for Redis.
            log.warning("maintenance skipped, Redis is unavailable: %s", exc)
            self.last_cleaned_at = now()  # type: ignore[assignment]
            return
        self._reconcile_rows()

    def _reconcile_rows(self) -> None:
        # Registry cleanup just failed any abandoned jobs in RQ; bring their rows along. Only
        # the worker that cleaned a queue this round does it, not every worker every time.
        if self._cleaned:
            self._cleaned = False
            upkeep.reconcile_stale()

    def get_heartbeat_ttl(self, job: Job) -> int:
        # RQ adds 60 s; ours beats every job_monitoring_interval, so a short grace suffices.
        # It bounds how long a Redis outage may last before running jobs count as abandoned.
        return int(self.job_monitoring_interval) + self.heartbeat_grace


def run_worker(app: Flask, queues: Sequence[str] = QUEUE_NAMES, *, burst: bool = False) -> bool:
    """Work the named queues (highest priority first) until stopped; True if any job ran."""
    with app.app_context():
        connection = get_redis()
        if connection is None:
            raise RuntimeError("REDIS_URL is not set, so the worker has no queue to work.")
        settings = get_settings(app)
        worker = FlaskyardWorker(
            [KeepingQueue(name, connection=connection) for name in queues],
            connection=connection,
            queue_class=KeepingQueue,
            job_monitoring_interval=settings.WORKER_MONITOR_INTERVAL,
            maintenance_interval=settings.WORKER_MAINTENANCE_INTERVAL,
            # An idle worker blocks in BLPOP for worker_ttl - 15 s between maintenance runs;
            # this keeps abandoned-job cleanup on schedule even when no job arrives.
            worker_ttl=settings.WORKER_MAINTENANCE_INTERVAL + 15,
        )
        worker.inline_queues = settings.inline_queues
        worker.heartbeat_grace = settings.WORKER_HEARTBEAT_GRACE
        if settings.WORKER_METRICS_PORT:
            host, port = settings.WORKER_METRICS_HOST, settings.WORKER_METRICS_PORT
            serve_worker_metrics(port, connection, host=host)
            log.info("metrics on http://%s:%d/metrics", host, port)
        log.info(
            "worker %s on %s (in-process: %s)",
            worker.name,
            ", ".join(queues),
            ", ".join(sorted(worker.inline_queues & set(queues))) or "none",
        )
        # Forked work horses inherit this app context; flaskyard.database's fork hook gives
        # each of them an empty connection pool.
        return bool(
            worker.work(
                burst=burst,
                logging_level=settings.LOG_LEVEL,
                # RQ's per-queue locks let one scheduler act at a time, so every worker may
                # offer to be it; turn it off where the scheduler role runs on its own.
                with_scheduler=settings.WORKER_WITH_SCHEDULER,
            )
        )
