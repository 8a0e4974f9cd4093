"""The RQ worker entry point: builds the app once, runs jobs inside its app context.

Short trusted queues (``high``, ``default``) run jobs in the worker process itself, which
skips RQ's fork per job; ``low`` (exports, imports, thumbnails: long or parsing untrusted
files) still forks a work horse per job for crash isolation. Inline jobs keep heartbeating
from a side thread, so a worker killed mid-job is noticed as quickly as a forking one.

The worker is also where job rows catch up with what RQ decided on its own (a killed work
horse, an abandoned job): after each forked job and in every maintenance pass.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from flask import Flask
from rq import Queue, Worker
from rq.job import Job
from rq.worker import WorkerStatus

from flaskyard.broker import QUEUE_NAMES, get_redis
from flaskyard.extensions import db
from flaskyard.jobs import services as jobs
from flaskyard.jobs.models import Job as JobRow
from flaskyard.logs import bound_request_id
from flaskyard.metrics import JOB_DURATION, JOBS_ENDED, serve_worker_metrics
from flaskyard.settings import get_settings

log = logging.getLogger("flaskyard.worker")


class FlaskyardWorker(Worker):
    """RQ's Worker, but jobs from ``inline_queues`` run in-process with a heartbeat thread."""

    inline_queues: frozenset[str] = frozenset({"high", "default"})
    #: Seconds a started job may go without a heartbeat before it counts as abandoned.
    heartbeat_grace = 15

    def execute_job(self, job: Job, queue: Queue) -> None:
        started = time.perf_counter()
        try:
            self._execute(job, queue)
        finally:
            self._observe(job.id, time.perf_counter() - started)

    def perform_job(self, job: Job, queue: Queue) -> Any:
        # Runs in this process for inline queues and in the work horse otherwise: either way
        # every line the job logs carries the id of the request that enqueued it.
        with bound_request_id(job.meta.get("request_id")):
            return super().perform_job(job, queue)

    def _execute(self, job: Job, queue: Queue) -> None:
        if queue.name not in self.inline_queues:
            super().execute_job(job, queue)
            # The horse may have died without writing its end; RQ has recorded it by now.
            self._reconcile(job.id)
            return
        self.prepare_execution(job)
        done = threading.Event()
        beat = threading.Thread(target=self._beat, args=(job, done), daemon=True)
        beat.start()
        try:
            self.perform_job(job, queue)
        finally:
            done.set()
            beat.join()
            db.session.remove()
        self.set_state(WorkerStatus.IDLE)

    def _beat(self, job: Job, done: threading.Event) -> None:
        while not done.wait(self.job_monitoring_interval):
            try:
                self.maintain_heartbeats(job)
            except Exception:  # a missed beat is survivable; a dead thread is not
                log.warning("heartbeat for job %s failed", job.id, exc_info=True)

    def run_maintenance_tasks(self) -> None:
        super().run_maintenance_tasks()  # type: ignore[no-untyped-call]
        # Registry cleanup just failed any abandoned jobs in RQ; bring their rows along.
        try:
            changed = jobs.reconcile_stale(session=db.session)
            db.session.commit()
        except Exception:  # the worker must outlive a database hiccup; the next pass retries
            db.session.rollback()
            log.warning("reconciling job rows failed", exc_info=True)
            return
        finally:
            db.session.remove()
        if changed:
            log.info("reconciled %d job rows with RQ", changed)

    def _observe(self, rq_job_id: str, seconds: float) -> None:
        # Counted here, in the worker process, for forked jobs too (a work horse's counters
        # die with it); the row holds the status the run ended in.
        try:
            row = db.session.get(JobRow, uuid.UUID(rq_job_id))
            if row is not None:
                JOBS_ENDED.labels(row.type, row.status).inc()
                JOB_DURATION.labels(row.type).observe(seconds)
        except ValueError:
            pass  # not one of our jobs (its id is no UUID)
        except Exception:  # a metric is never worth a worker
            log.warning("recording metrics for job %s failed", rq_job_id, exc_info=True)
        finally:
            db.session.remove()

    def _reconcile(self, rq_job_id: str) -> None:
        try:
            row = db.session.get(JobRow, uuid.UUID(rq_job_id))
            if row is not None and jobs.reconcile(session=db.session, row=row):
                db.session.commit()
        except ValueError:
            pass  # not one of our jobs (its id is no UUID)
        except Exception:  # the maintenance pass retries; the worker goes on
            db.session.rollback()
            log.warning("reconciling job %s failed", rq_job_id, exc_info=True)
        finally:
            db.session.remove()

    def get_heartbeat_ttl(self, job: Job) -> int:
        # RQ adds 60 s; ours beats every job_monitoring_interval, so a short grace suffices.
        return int(self.job_monitoring_interval) + self.heartbeat_grace


def run_worker(app: Flask, queues: Sequence[str] = QUEUE_NAMES, *, burst: bool = False) -> bool:
    """Work the named queues (highest priority first) until stopped; True if any job ran."""
    with app.app_context():
        connection = get_redis()
        if connection is None:
            raise RuntimeError("REDIS_URL is not set, so the worker has no queue to work.")
        settings = get_settings(app)
        worker = FlaskyardWorker(
            [Queue(name, connection=connection) for name in queues],
            connection=connection,
            job_monitoring_interval=settings.WORKER_MONITOR_INTERVAL,
            maintenance_interval=settings.WORKER_MAINTENANCE_INTERVAL,
            # An idle worker blocks in BLPOP for worker_ttl - 15 s between maintenance runs;
            # this keeps abandoned-job cleanup on schedule even when no job arrives.
            worker_ttl=settings.WORKER_MAINTENANCE_INTERVAL + 15,
        )
        worker.inline_queues = settings.inline_queues
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
