"""Job rules that write: submit, dispatch, cancel, reconcile, requeue lost, abandon, delete.

Reading a job never writes (:mod:`flaskyard.jobs.views`). The one step that writes what RQ
decided behind the row's back (a killed work horse, an abandoned job) is :func:`reconcile`,
run by the worker (:mod:`flaskyard.jobs.upkeep`) after a forked job and in its maintenance.
Like every service here, these flush; the caller commits.
"""

from __future__ import annotations

import logging
import uuid
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError
from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.job import JobStatus

from flaskyard.broker import get_redis, requeue_if_lost
from flaskyard.core.auth import Principal
from flaskyard.core.problems import Message
from flaskyard.database import DbSession, utcnow
from flaskyard.jobs import runtime, views
from flaskyard.jobs.entry import execute
from flaskyard.jobs.models import TERMINAL, Job
from flaskyard.jobs.registry import JOB_TYPES
from flaskyard.logs import current_request_id
from flaskyard.metrics import JOBS_ENQUEUED
from flaskyard.settings import current_settings
from flaskyard.users.models import User

log = logging.getLogger("flaskyard.worker")

RETRY_INTERVALS = [5, 30, 120]
#: Seconds a queued job may be missing from its queue, never started, before it counts as lost.
LOST_AFTER_SECONDS = 10.0
#: What the owner of a job reads when the worker running it stopped (killed, crashed, lost).
ABANDONED_RETRYING = "Its worker stopped mid-run; the job runs again."
ABANDONED_FAILED = "The job was abandoned: its worker stopped mid-run."
#: How many unfinished rows one maintenance pass reconciles at most.
RECONCILE_BATCH = 500


class QueueUnavailable(Exception):
    """Redis cannot take the job right now."""


class TooManyJobs(Exception):
    """The owner already has as many jobs queued or running as one user may."""


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
            {
                "type": [
                    Message(
                        "Unknown job type; expected one of %(types)s.",
                        types=", ".join(JOB_TYPES),
                    )
                ]
            }
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


def submit(*, session: DbSession, owner: Principal, type_: str, params: Any) -> Job:
    """Validate and add a job's row; the caller commits, then calls :func:`dispatch`.

    The row is committed before the job is queued, so a worker never sees a job without one.
    """
    loaded = validate(type_, params)
    if get_redis() is None:
        raise QueueUnavailable("No job queue is configured (REDIS_URL is not set).")
    row = Job(owner_id=owner.id, type=type_, params=loaded)
    _hold_submissions(session, owner.id)
    session.add(row)
    session.flush()
    limit = current_settings().JOB_MAX_ACTIVE_PER_USER
    active = _active_count(session, owner.id, limit + 1) - 1  # the new row counts itself
    if active >= limit:
        session.delete(row)
        session.flush()
        raise TooManyJobs(
            Message(
                "You already have %(active)s jobs queued or running (at most %(limit)s); "
                "wait for one to end.",
                active=active,
                limit=limit,
            )
        )
    return row


def _hold_submissions(session: DbSession, owner_id: uuid.UUID) -> None:
    """Lock the owner's row until the caller commits: one submission per user at a time.

    PostgreSQL and MariaDB take a row lock. SQLite has no row locks (FOR UPDATE is not
    rendered); there the INSERT that follows takes the database's single write lock, which
    the caller's commit releases, so the count after it is just as safe.
    """
    session.execute(sa.select(User.id).where(User.id == owner_id).with_for_update())


def _active_count(session: DbSession, owner_id: uuid.UUID, at_most: int) -> int:
    """The owner's queued and running jobs, counted up to ``at_most``.

    A locking read (FOR SHARE), so MariaDB reads the latest committed rows rather than the
    snapshot its repeatable-read transaction took before the lock was granted; selecting ids
    rather than COUNT(*) because PostgreSQL refuses FOR SHARE with an aggregate.
    """
    ids = session.scalars(
        sa.select(Job.id)
        .where(Job.owner_id == owner_id, Job.status.not_in(TERMINAL))
        .limit(at_most)
        .with_for_update(read=True)
    ).all()
    return len(ids)


def dispatch(*, session: DbSession, row: Job, owner: Principal) -> None:
    """Queue the committed job ``row``; when Redis refuses, delete the row and raise."""
    job_type = JOB_TYPES[row.type]
    settings = current_settings()
    redis = get_redis()
    try:
        if redis is None:
            raise RedisError("REDIS_URL is not set.")
        Queue(job_type.queue, connection=redis).enqueue(
            execute,
            str(row.id),
            job_id=str(row.id),
            job_timeout=job_type.timeout(row.params),
            result_ttl=settings.JOB_RESULT_TTL,
            failure_ttl=settings.JOB_FAILURE_TTL,
            # RQ matches intervals to the last retries: as many as there are retries, so the
            # first retry waits the first interval.
            retry=Retry(max=job_type.retries, interval=RETRY_INTERVALS[: job_type.retries])
            if job_type.retries
            else None,
            description=f"{row.type} for {owner.username}",
            # The worker logs the job's lines with the id of the request that asked for it.
            meta={"progress": 0, "message": "", "request_id": current_request_id()},
        )
        JOBS_ENQUEUED.labels(row.type).inc()
    except RedisError as exc:
        session.delete(row)
        session.flush()
        raise QueueUnavailable(f"The job queue is unavailable: {exc}") from exc


def reconcile(*, session: DbSession, row: Job) -> bool:
    """Write down what RQ decided behind the row's back: an end, or a retry (killed horse).

    Returns whether the row changed; the caller commits.
    """
    if row.ended:
        return False
    live = views.fetch_live(row)
    if row.status == "started" and live is not None and views.rq_status(live, row) == "queued":
        # RQ queued it again behind the row's back (its work horse died): a retry is due.
        row.status = "queued"
        session.flush()
        return True
    shown = views.merge(session, row, live)
    if shown["status"] not in TERMINAL:
        return False
    for name in ("status", "progress", "message", "started_at", "ended_at", "error", "result"):
        setattr(row, name, shown[name])
    session.flush()
    runtime.cleanup_cancel_flag(row.id)
    return True


def reconcile_stale(*, session: DbSession, limit: int = RECONCILE_BATCH) -> int:
    """Reconcile the oldest unfinished rows (at most ``limit``) and queue again those a worker
    lost (:func:`requeue_lost`); return how many rows changed."""
    rows = session.scalars(
        sa.select(Job)
        .where(Job.status.in_(("queued", "started")))
        .order_by(Job.created_at, Job.id)
        .limit(limit)
    ).all()
    changed = sum(reconcile(session=session, row=row) for row in rows)
    requeue_lost([row for row in rows if row.status == "queued"])
    return changed


def requeue_lost(rows: list[Job]) -> int:
    """Queue again the queued ``rows`` a worker took off their queue and never started.

    A worker killed between taking a job and starting it, or a Redis that lost its answer to
    the taking, leaves the job in no queue and no registry: nothing would ever run or fail it.
    One found so on two maintenance passes ``LOST_AFTER_SECONDS`` apart goes back to the front
    of its queue. Returns how many did.
    """
    redis = get_redis()
    if redis is None:
        return 0
    jobs = [
        (Queue(JOB_TYPES[row.type].queue, connection=redis), str(row.id))
        for row in rows
        if row.type in JOB_TYPES
    ]
    try:
        requeued = requeue_if_lost(redis, jobs, missing_for=LOST_AFTER_SECONDS)
    except RedisError:
        log.warning("looking for lost jobs failed; the next pass looks again", exc_info=True)
        return 0
    for job_id in requeued:
        log.warning("job %s was taken off its queue and never started; queued again", job_id)
    return len(requeued)


def abandon(*, session: DbSession, row: Job, retrying: bool) -> bool:
    """Write down that the worker running ``row`` stopped mid-run: queued again, or failed.

    RQ noticed the missed heartbeats and retried or failed the job; this keeps the row in
    step (with a reason its owner can read). Returns whether the row changed; the caller
    commits.
    """
    if row.ended:
        return False
    if retrying:
        row.status, row.message = "queued", ABANDONED_RETRYING
    else:
        row.status, row.error, row.ended_at = "failed", ABANDONED_FAILED, utcnow()
    session.flush()
    if not retrying:
        runtime.cleanup_cancel_flag(row.id)
    return True


def get_for(*, session: DbSession, job_id: uuid.UUID, user: Principal) -> Job | None:
    """The job if ``user`` owns it or is an admin; None otherwise (others' jobs look absent)."""
    row = session.get(Job, job_id)
    if row is None or (row.owner_id != user.id and not user.has_role("admin")):
        return None
    return row


def cancel(*, session: DbSession, row: Job) -> None:
    """Cancel a queued job now, or ask a running one to stop at its next progress report."""
    shown = views.view(session=session, row=row)
    if shown["status"] in TERMINAL:
        raise JobEndedError(Message("The job already %(status)s.", status=shown["status"]))
    live = views.fetch_live(row)
    if live is None or live.get_status(refresh=False) in (
        JobStatus.QUEUED,
        JobStatus.DEFERRED,
        JobStatus.SCHEDULED,
    ):
        if live is not None:
            live.cancel()
        row.status, row.ended_at, row.message = "canceled", utcnow(), "Canceled before it started."
        session.flush()
    else:
        runtime.request_cancel(row.id)


def delete_owned(*, session: DbSession, owner_id: uuid.UUID) -> list[uuid.UUID]:
    """Delete every job row of ``owner_id``; return the ids of those that had not ended."""
    unfinished = list(
        session.scalars(
            sa.select(Job.id).where(Job.owner_id == owner_id, Job.status.not_in(TERMINAL))
        )
    )
    session.execute(sa.delete(Job).where(Job.owner_id == owner_id))
    session.flush()
    return unfinished
