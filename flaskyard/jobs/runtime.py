"""What runs inside the worker: the job wrapper, the progress helper and cancellation."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from redis.exceptions import RedisError
from rq import get_current_job
from rq.timeouts import JobTimeoutException

from flaskyard.database import utcnow
from flaskyard.extensions import db
from flaskyard.jobs.models import Job
from flaskyard.queue import get_redis

log = logging.getLogger(__name__)
EVENTS_CHANNEL = "flaskyard:job-events:"
CANCEL_KEY = "flaskyard:job-cancel:"
MESSAGE_MAX = 500
#: Failures worth another try: the database or Redis blinked, a socket dropped.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.DisconnectionError,
    RedisError,
    ConnectionError,
    TimeoutError,
)


class JobCanceled(Exception):
    """The owner asked to cancel; raised from ``report_progress``."""


class JobFailed(Exception):
    """A permanent failure with a message for the job's owner; never retried."""


def notify(job_id: uuid.UUID | str) -> None:
    """Tell every web process that job ``job_id`` changed."""
    redis = get_redis()
    if redis is not None:
        try:
            redis.publish(f"{EVENTS_CHANNEL}{job_id}", b"1")
        except RedisError:
            log.warning("could not publish a change of job %s", job_id, exc_info=True)


def request_cancel(job_id: uuid.UUID) -> None:
    """Ask a running job to stop at its next progress report."""
    redis = get_redis()
    if redis is not None:
        redis.set(f"{CANCEL_KEY}{job_id}", b"1", ex=24 * 3600)


def report_progress(percent: float, message: str = "") -> None:
    """Record progress (never going backwards) and a message for the current job.

    Raises JobCanceled when the owner asked to cancel, so every job that reports progress
    can be canceled between two steps.
    """
    rq_job = get_current_job()
    if rq_job is None:
        return
    value = max(int(rq_job.meta.get("progress", 0)), min(100, max(0, int(percent))))
    rq_job.meta.update(progress=value, message=message[:MESSAGE_MAX])
    rq_job.save_meta()  # type: ignore[no-untyped-call]
    notify(rq_job.id)
    redis = get_redis()
    if redis is not None and redis.exists(f"{CANCEL_KEY}{rq_job.id}"):
        raise JobCanceled("Canceled by its owner.")


def _finish(job_id: uuid.UUID, **fields: Any) -> None:
    db.session.rollback()
    row = db.session.get(Job, job_id)
    rq_job = get_current_job()
    if rq_job is not None:
        # Keep the last reported progress and message once Redis forgets the job.
        fields.setdefault("progress", int(rq_job.meta.get("progress", 0)))
        fields.setdefault("message", str(rq_job.meta.get("message", ""))[:MESSAGE_MAX])
    if row is not None:
        for name, value in fields.items():
            setattr(row, name, value)
        db.session.commit()
    notify(job_id)


def _stop_retrying() -> None:
    rq_job = get_current_job()
    if rq_job is not None:
        # RQ's failure handler reads this very object: no retry for a permanent failure.
        rq_job.retries_left = 0


def execute(job_id: str) -> dict[str, Any] | None:
    """The RQ entry point of every user job: run its type, keep the row in step."""
    from flaskyard.jobs.registry import JOB_TYPES

    key = uuid.UUID(job_id)
    try:
        row = db.session.get(Job, key)
        if row is None:
            raise JobFailed("The job's record is gone.")
        if row.ended:
            return row.result  # at-least-once delivery: already done, do nothing twice
        job_type = JOB_TYPES[row.type]
        params = dict(row.params)
        row.status, row.started_at, row.error = "started", utcnow(), None
        db.session.commit()
        notify(key)
        result = job_type.run(key, params)
        _finish(key, status="finished", progress=100, result=result, ended_at=utcnow())
        return result
    except JobCanceled as exc:
        _stop_retrying()
        _finish(key, status="canceled", message=str(exc), ended_at=utcnow())
        return None
    except JobTimeoutException:
        _stop_retrying()
        timeout = getattr(get_current_job(), "timeout", None)
        _finish(
            key,
            status="failed",
            error=f"The job ran past its {timeout} s limit.",
            ended_at=utcnow(),
        )
        raise
    except TRANSIENT_ERRORS as exc:
        rq_job = get_current_job()
        if rq_job is not None and (rq_job.retries_left or 0) > 0:
            message = f"Retrying after a transient error: {exc}"[:MESSAGE_MAX]
            rq_job.meta["message"] = message  # the live state shows it too, not just the row
            rq_job.save_meta()  # type: ignore[no-untyped-call]
            _finish(
                key,
                status="queued",
                message=message,
            )
        else:
            _finish(key, status="failed", error=_describe(exc), ended_at=utcnow())
        raise
    except Exception as exc:
        _stop_retrying()
        _finish(key, status="failed", error=_describe(exc), ended_at=utcnow())
        raise
    finally:
        db.session.remove()


def _describe(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}"
    return text[:2000]


def cleanup_cancel_flag(job_id: uuid.UUID) -> None:
    """Forget a cancel request once the job is over."""
    redis = get_redis()
    if redis is not None:
        redis.delete(f"{CANCEL_KEY}{job_id}")
