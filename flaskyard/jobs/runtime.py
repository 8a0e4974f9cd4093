"""What a running job uses: the progress helper, cancellation, and change notices."""

from __future__ import annotations

import logging
import uuid

from redis.exceptions import RedisError
from rq import get_current_job

from flaskyard.broker import get_redis

log = logging.getLogger(__name__)
EVENTS_CHANNEL = "flaskyard:job-events:"
CANCEL_KEY = "flaskyard:job-cancel:"
MESSAGE_MAX = 500


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


def cleanup_cancel_flag(job_id: uuid.UUID) -> None:
    """Forget a cancel request once the job is over."""
    redis = get_redis()
    if redis is not None:
        redis.delete(f"{CANCEL_KEY}{job_id}")
