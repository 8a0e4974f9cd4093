"""Per-user job cap under parallel submissions."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from apiflask import APIFlask
from redis import Redis

from flaskyard.extensions import db
from flaskyard.jobs.models import TERMINAL, Job
from tests.support.api import JOBS
from tests.support.fixtures import Accounts

PARALLEL = 8
CAP = 3


def _submit_together(app: APIFlask, headers: dict[str, str], count: int) -> list[int]:
    """``count`` job submissions, released at once from their own threads."""
    start = threading.Barrier(count)

    def one(_index: int) -> int:
        client = app.test_client()
        start.wait(timeout=30)
        body = {"type": "demo", "params": {"seconds": 0, "steps": 1}}
        return client.post(JOBS, json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def _active(app: APIFlask, owner: Any) -> int:
    with app.app_context():
        return int(
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(Job)
                .where(Job.owner_id == owner, Job.status.not_in(TERMINAL))
            )
            or 0
        )


def test_parallel_submissions_never_pass_the_cap(
    app_config: dict[str, Any], request: Any, redis: Redis
) -> None:
    app_config["JOB_MAX_ACTIVE_PER_USER"] = CAP
    app: APIFlask = request.getfixturevalue("app")
    accounts: Accounts = request.getfixturevalue("accounts")

    statuses = _submit_together(app, accounts.alice, PARALLEL)

    assert sorted(statuses) == [202] * CAP + [429] * (PARALLEL - CAP), statuses
    assert _active(app, accounts.ids["alice"]) == CAP
    # Every accepted job is on the queue; no refused one is.
    assert redis.llen("rq:queue:default") == CAP
    # The cap is per user: another user submitting at the same time is not held back.
    assert _submit_together(app, accounts.bob, CAP) == [202] * CAP
