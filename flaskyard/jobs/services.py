"""Job rules: start, look up (database row + live Redis state), list, cancel."""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from flask import current_app
from marshmallow import ValidationError
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus

from flaskyard.database import DbSession, Page, utcnow
from flaskyard.jobs import runtime
from flaskyard.jobs.models import TERMINAL, Job
from flaskyard.jobs.registry import JOB_TYPES
from flaskyard.queue import get_redis
from flaskyard.users.models import User

log = logging.getLogger(__name__)
RETRY_INTERVALS = [5, 30, 120]
_RQ_STATUS = {
    JobStatus.QUEUED: "queued",
    JobStatus.DEFERRED: "queued",
    JobStatus.SCHEDULED: "queued",
    JobStatus.STARTED: "started",
    JobStatus.FINISHED: "finished",
    JobStatus.FAILED: "failed",
    JobStatus.STOPPED: "canceled",
    JobStatus.CANCELED: "canceled",
}


class QueueUnavailable(Exception):
    """Redis cannot take the job right now."""


class InvalidJobError(ValueError):
    """Unknown type or bad parameters; ``messages`` maps fields to errors."""

    def __init__(self, messages: dict[str, Any]) -> None:
        super().__init__("The job request is invalid.")
        self.messages = messages


class JobEndedError(Exception):
    """The job already ended, so it cannot be canceled."""


def validate(type_: str, params: Any) -> dict[str, Any]:
    """The loaded parameters for ``type_``, or InvalidJobError."""
    job_type = JOB_TYPES.get(type_)
    if job_type is None:
        raise InvalidJobError(
            {"type": [f"Unknown job type; expected one of {', '.join(JOB_TYPES)}."]}
        )
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise InvalidJobError({"params": ["Must be an object."]})
    try:
        loaded: dict[str, Any] = job_type.params().load(params)
    except ValidationError as exc:
        raise InvalidJobError({"params": exc.messages}) from exc
    # Stored as JSON, so UUIDs become strings here.
    return {
        key: str(value) if isinstance(value, uuid.UUID) else value for key, value in loaded.items()
    }


def submit(*, session: DbSession, owner: User, type_: str, params: Any) -> Job:
    """Record and enqueue a job; the row is committed before a worker can see the job."""
    loaded = validate(type_, params)
    redis = get_redis()
    if redis is None:
        raise QueueUnavailable("No job queue is configured (REDIS_URL is not set).")
    job_type = JOB_TYPES[type_]
    row = Job(owner_id=owner.id, type=type_, params=loaded)
    session.add(row)
    session.commit()
    config = current_app.config
    try:
        Queue(job_type.queue, connection=redis).enqueue(
            "flaskyard.jobs.runtime.execute",
            str(row.id),
            job_id=str(row.id),
            job_timeout=job_type.timeout(loaded),
            result_ttl=config["JOB_RESULT_TTL"],
            failure_ttl=config["JOB_FAILURE_TTL"],
            retry=Retry(max=job_type.retries, interval=RETRY_INTERVALS)
            if job_type.retries
            else None,
            description=f"{type_} for {owner.username}",
            meta={"progress": 0, "message": ""},
        )
    except RedisError as exc:
        session.delete(row)
        session.commit()
        raise QueueUnavailable(f"The job queue is unavailable: {exc}") from exc
    return row


def submit_quietly(*, session: DbSession, owner: User, type_: str, params: Any) -> Job | None:
    """Start a follow-up job if the queue is there; its absence must not fail the caller."""
    try:
        return submit(session=session, owner=owner, type_=type_, params=params)
    except QueueUnavailable:
        log.warning("could not start a %s job: the queue is unavailable", type_)
        return None


def _live(row: Job) -> RQJob | None:
    redis = get_redis()
    if redis is None:
        return None
    try:
        return RQJob.fetch(str(row.id), connection=redis)
    except (NoSuchJobError, RedisError):
        return None


def _error_of(live: RQJob) -> str:
    latest = live.latest_result()
    text = (latest.exc_string if latest is not None else None) or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "The job failed.")[:2000]


def refresh(*, session: DbSession, row: Job) -> dict[str, Any]:
    """The job as the API shows it; ends the row when RQ ended the job behind our back."""
    view: dict[str, Any] = {
        "id": row.id,
        "type": row.type,
        "status": row.status,
        "progress": row.progress,
        "message": row.message,
        "result": row.result,
        "error": row.error,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "ended_at": row.ended_at,
    }
    if row.ended:
        return view
    live = _live(row)
    if live is None:
        return view  # Redis lost it: the row is the best knowledge there is
    meta = live.get_meta(refresh=False) if hasattr(live, "get_meta") else live.meta
    status = _RQ_STATUS.get(live.get_status(refresh=False) or JobStatus.QUEUED, row.status)
    view["progress"] = max(int(meta.get("progress", 0)), row.progress)
    view["message"] = str(meta.get("message", row.message))
    view["started_at"] = row.started_at or live.started_at
    if status == "started" and view["status"] == "queued":
        view["status"] = "started"
    if status in TERMINAL:
        # Killed horse, timeout or abandoned job: the wrapper never got to write the end.
        # Read the row again first: the wrapper may have ended it since, with a clearer error.
        session.refresh(row)
        if row.ended:
            return refresh(session=session, row=row)
        row.status = status
        row.progress = view["progress"]
        row.ended_at = live.ended_at or utcnow()
        if status == "failed":
            row.error = _error_of(live)
        elif status == "finished":
            row.result = live.return_value()
        session.commit()
        runtime.cleanup_cancel_flag(row.id)
        return refresh(session=session, row=row)
    return view


def get_for(*, session: DbSession, job_id: uuid.UUID, user: User) -> Job | None:
    """The job if ``user`` owns it; None otherwise (others' jobs look absent)."""
    row = session.get(Job, job_id)
    return row if row is not None and row.owner_id == user.id else None


def list_for(*, session: DbSession, user: User, page: int, per_page: int) -> Page[dict[str, Any]]:
    """The user's jobs, newest first."""
    total = session.scalar(sa.select(sa.func.count()).where(Job.owner_id == user.id)) or 0
    rows = session.scalars(
        sa.select(Job)
        .where(Job.owner_id == user.id)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    items = [refresh(session=session, row=row) for row in rows]
    return Page(items=items, page=page, per_page=per_page, total=total)


def cancel(*, session: DbSession, row: Job) -> dict[str, Any]:
    """Cancel a queued job now, or ask a running one to stop at its next progress report."""
    view = refresh(session=session, row=row)
    if view["status"] in TERMINAL:
        raise JobEndedError(f"The job already {view['status']}.")
    live = _live(row)
    if live is None or live.get_status(refresh=False) in (
        JobStatus.QUEUED,
        JobStatus.DEFERRED,
        JobStatus.SCHEDULED,
    ):
        if live is not None:
            live.cancel()
        row.status, row.ended_at, row.message = "canceled", utcnow(), "Canceled before it started."
        session.commit()
        runtime.notify(row.id)
    else:
        runtime.request_cancel(row.id)
    return refresh(session=session, row=row)
