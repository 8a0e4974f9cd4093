"""The worker's bookkeeping of job rows: where rows catch up with what RQ decided on its own.

RQ ends some jobs without running our code: a work horse killed mid-job, a job whose worker
stopped heartbeating. These steps write that end down, each committing its own transaction
(they are callers of :mod:`flaskyard.jobs.services`, like a route), and none of them lets a
database error reach the worker: the next maintenance pass tries again. RQ's StopRequested,
which its Ctrl-C handler raises wherever an idle worker happens to be, always goes through.
"""

from __future__ import annotations

import logging
import uuid

from rq.exceptions import StopRequested

from flaskyard.extensions import db
from flaskyard.jobs import services
from flaskyard.jobs.models import Job
from flaskyard.jobs.runtime import notify
from flaskyard.metrics import JOB_DURATION, JOBS_ENDED

log = logging.getLogger("flaskyard.worker")


def record_abandoned(found: list[tuple[str, bool]]) -> None:
    """Write down the jobs a registry cleanup found abandoned: (RQ job id, retried?)."""
    for rq_job_id, retrying in found:
        try:
            row = db.session.get(Job, uuid.UUID(rq_job_id))
            if row is not None and services.abandon(session=db.session, row=row, retrying=retrying):
                db.session.commit()
                notify(row.id)
                log.warning(
                    "job %s was abandoned by its worker; %s",
                    rq_job_id,
                    "queued again" if retrying else "failed",
                )
        except ValueError:
            pass  # not one of our jobs (its id is no UUID)
        except StopRequested:
            raise  # Ctrl-C reached an idle worker here: it must stop
        except Exception:  # the maintenance pass reconciles what is left
            db.session.rollback()
            log.warning("recording abandoned job %s failed", rq_job_id, exc_info=True)
        finally:
            db.session.remove()


def reconcile_one(rq_job_id: str) -> None:
    """Bring one job's row in step with RQ (after a forked job, whose horse may have died)."""
    try:
        row = db.session.get(Job, uuid.UUID(rq_job_id))
        if row is not None and services.reconcile(session=db.session, row=row):
            db.session.commit()
    except ValueError:
        pass  # not one of our jobs (its id is no UUID)
    except StopRequested:
        raise  # Ctrl-C reached an idle worker here: it must stop
    except Exception:  # the maintenance pass retries; the worker goes on
        db.session.rollback()
        log.warning("reconciling job %s failed", rq_job_id, exc_info=True)
    finally:
        db.session.remove()


def reconcile_stale() -> None:
    """Bring every unfinished row RQ has ended in step with it (one maintenance batch)."""
    try:
        changed = services.reconcile_stale(session=db.session)
        db.session.commit()
    except StopRequested:
        raise  # Ctrl-C reached an idle worker here: it must stop
    except Exception:  # the worker must outlive a database hiccup; the next pass retries
        db.session.rollback()
        log.warning("reconciling job rows failed", exc_info=True)
        return
    finally:
        db.session.remove()
    if changed:
        log.info("reconciled %d job rows with RQ", changed)


def observe(rq_job_id: str, seconds: float) -> None:
    """Count a job that ended, by type and the status its row ended in, and its duration."""
    # Counted in the worker process, for forked jobs too (a work horse's counters die with it).
    try:
        row = db.session.get(Job, uuid.UUID(rq_job_id))
        if row is not None:
            JOBS_ENDED.labels(row.type, row.status).inc()
            JOB_DURATION.labels(row.type).observe(seconds)
    except ValueError:
        pass  # not one of our jobs (its id is no UUID)
    except StopRequested:
        raise  # Ctrl-C reached an idle worker here: it must stop
    except Exception:  # a metric is never worth a worker
        log.warning("recording metrics for job %s failed", rq_job_id, exc_info=True)
    finally:
        db.session.remove()
