"""The job read model: a job as the API shows it, its database row merged with RQ's live state.

Everything here only reads (the GET routes, the list and the event hub use it, however often);
writing down what RQ decided is :func:`flaskyard.jobs.services.reconcile`'s job alone.
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from redis.exceptions import RedisError
from rq.exceptions import NoSuchJobError
from rq.job import Job as RQJob
from rq.job import JobStatus

from flaskyard.broker import get_redis
from flaskyard.core.auth import Principal
from flaskyard.core.paging import Page
from flaskyard.database import DbSession, utcnow
from flaskyard.jobs.models import TERMINAL, Job

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


def fetch_live(row: Job) -> RQJob | None:
    redis = get_redis()
    if redis is None:
        return None
    try:
        return RQJob.fetch(str(row.id), connection=redis)
    except (NoSuchJobError, RedisError):
        return None


def fetch_live_many(rows: list[Job]) -> dict[uuid.UUID, RQJob]:
    """RQ's state of ``rows`` in one Redis round trip (a page must not cost one per job)."""
    redis = get_redis()
    if redis is None or not rows:
        return {}
    try:
        found = RQJob.fetch_many([str(row.id) for row in rows], connection=redis)
    except RedisError:
        return {}
    return {row.id: job for row, job in zip(rows, found, strict=True) if job is not None}


def _error_of(live: RQJob) -> str:
    latest = live.latest_result()
    text = (latest.exc_string if latest is not None else None) or ""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "The job failed.")[:2000]


def _row_view(row: Job) -> dict[str, Any]:
    return {
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
        "owner": row.owner,
    }


def rq_status(live: RQJob, row: Job) -> str:
    return _RQ_STATUS.get(live.get_status(refresh=False) or JobStatus.QUEUED, row.status)


def view(*, session: DbSession, row: Job) -> dict[str, Any]:
    """The job as the API shows it: the row, brought up to date by RQ's live state.

    Reads only. When RQ ended the job but the row does not say so yet, the view shows the
    end RQ recorded; :func:`flaskyard.jobs.services.reconcile` writes it down later.
    """
    return merge(session, row, None if row.ended else fetch_live(row))


def merge(session: DbSession, row: Job, live: RQJob | None) -> dict[str, Any]:
    shown = _row_view(row)
    if row.ended:
        return shown
    if live is None:
        return shown  # Redis lost it: the row is the best knowledge there is
    meta = live.get_meta(refresh=False) if hasattr(live, "get_meta") else live.meta
    status = rq_status(live, row)
    shown["progress"] = max(int(meta.get("progress", 0)), row.progress)
    shown["message"] = str(meta.get("message", row.message))
    shown["started_at"] = row.started_at or live.started_at
    if status == "started" and shown["status"] == "queued":
        shown["status"] = "started"
    if status in TERMINAL:
        # The job wrapper writes the row before RQ records the end, with a clearer error:
        # read the row again before trusting RQ's version.
        session.refresh(row)
        if row.ended:
            return _row_view(row)
        shown["status"] = status
        shown["ended_at"] = live.ended_at or utcnow()
        if status == "failed":
            shown["error"] = _error_of(live)
        elif status == "finished":
            shown["result"] = live.return_value()
    return shown


def list_for(
    *, session: DbSession, user: Principal, page: int, per_page: int, everyone: bool = False
) -> Page[dict[str, Any]]:
    """The user's jobs (everyone's with ``everyone``), newest first, as :func:`view` shows them."""
    condition = sa.true() if everyone else Job.owner_id == user.id
    total = session.scalar(sa.select(sa.func.count()).select_from(Job).where(condition)) or 0
    rows = session.scalars(
        sa.select(Job)
        .where(condition)
        .order_by(Job.created_at.desc(), Job.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    live = fetch_live_many([row for row in rows if not row.ended])
    items = [merge(session, row, live.get(row.id)) for row in rows]
    return Page(items=items, page=page, per_page=per_page, total=total)
