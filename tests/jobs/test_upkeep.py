"""The worker's row bookkeeping survives database errors but never swallows a stop request."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from apiflask import APIFlask
from rq.exceptions import StopRequested
from sqlalchemy.exc import OperationalError

from flaskyard.extensions import db
from flaskyard.jobs import services, upkeep

JOB_ID = str(uuid.uuid4())
STEPS: dict[str, Callable[[], None]] = {
    "record_abandoned": lambda: upkeep.record_abandoned([(JOB_ID, False)]),
    "reconcile_one": lambda: upkeep.reconcile_one(JOB_ID),
    "reconcile_stale": upkeep.reconcile_stale,
    "observe": lambda: upkeep.observe(JOB_ID, 1.0),
}


def _raising(exc: BaseException) -> Callable[..., Any]:
    def fail(*_args: Any, **_kwargs: Any) -> Any:
        raise exc

    return fail


def _break_every_step(monkeypatch: pytest.MonkeyPatch, exc: BaseException) -> None:
    # Each step starts by reading rows; make that read raise where a signal or an outage would.
    monkeypatch.setattr(services, "reconcile_stale", _raising(exc))
    monkeypatch.setattr(db.session, "get", _raising(exc))


@pytest.mark.parametrize("step", sorted(STEPS))
def test_a_stop_request_goes_through_every_step(
    app: APIFlask, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    # RQ's Ctrl-C handler raises StopRequested wherever an idle worker is; swallowed, the
    # worker would never stop.
    _break_every_step(monkeypatch, StopRequested())
    with app.app_context(), pytest.raises(StopRequested):
        STEPS[step]()


@pytest.mark.parametrize("step", sorted(STEPS))
def test_a_database_error_does_not_reach_the_worker(
    app: APIFlask, monkeypatch: pytest.MonkeyPatch, step: str
) -> None:
    _break_every_step(monkeypatch, OperationalError("SELECT 1", {}, Exception("gone")))
    with app.app_context():
        STEPS[step]()  # raises nothing: logged, and left for the next pass
