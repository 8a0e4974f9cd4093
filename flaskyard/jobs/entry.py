"""The RQ entry point of every user job: run its type and keep the job's row in step.

Services enqueue :func:`execute` itself (RQ records it by name, so workers import this
module); it looks the type up in the registry, runs its task, and writes the outcome.
"""

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
from flaskyard.jobs.registry import JOB_TYPES
from flaskyard.jobs.runtime import MESSAGE_MAX, JobCanceled, JobFailed, notify

log = logging.getLogger("flaskyard.jobs")

#: Failures worth another try: the database or Redis blinked, a socket dropped.
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    sa.exc.OperationalError,
    sa.exc.DisconnectionError,
    RedisError,
    ConnectionError,
    TimeoutError,
)


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
        log.info("job %s (%s) %s", job_id, row.type, fields.get("status", "updated"))
    notify(job_id)


def _stop_retrying() -> None:
    rq_job = get_current_job()
    if rq_job is not None:
        # RQ's failure handler reads this very object: no retry for a permanent failure.
        rq_job.retries_left = 0


def _describe(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, JobFailed) else f"{type(exc).__name__}: {exc}"
    return text[:2000]


def execute(job_id: str) -> dict[str, Any] | None:
    """Run the job ``job_id`` once; a second delivery of a finished job does nothing."""
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
        log.info("job %s (%s) started", key, row.type)
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
            _finish(key, status="queued", message=message)
        else:
            _finish(key, status="failed", error=_describe(exc), ended_at=utcnow())
        raise
    except Exception as exc:
        _stop_retrying()
        _finish(key, status="failed", error=_describe(exc), ended_at=utcnow())
        raise
    finally:
        db.session.remove()
