"""Liveness and readiness probes."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import current_app
from redis import Redis

from flaskyard.broker import get_redis
from flaskyard.core.problems import problem
from flaskyard.extensions import db

bp = APIBlueprint("health", __name__, tag="Health")
CHECK_TIMEOUT_SECONDS = 1.0
_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="readyz")


def _check_database() -> None:
    with db.engine.connect() as connection:
        connection.execute(sa.text("SELECT 1"))


def _check_redis(client: Redis) -> None:
    client.ping()


def _run_check(func: Any, *args: Any) -> str:
    app = current_app._get_current_object()  # type: ignore[attr-defined]

    def call() -> None:
        with app.app_context():
            func(*args)

    future = _pool.submit(call)
    try:
        future.result(timeout=CHECK_TIMEOUT_SECONDS)
    except FutureTimeout:
        return f"no answer within {CHECK_TIMEOUT_SECONDS:g} s"
    except Exception as exc:  # noqa: BLE001 - any failure is a failed probe
        # The probe answers anyone, so hosts, ports and driver messages go to the log only.
        current_app.logger.warning("Readiness check %s failed: %s", func.__name__, exc)
        return "unavailable"
    return "ok"


@bp.get("/healthz")
@bp.doc(summary="Liveness: the process answers")
def healthz() -> dict[str, str]:
    """Always ok while the process can answer."""
    return {"status": "ok"}


@bp.get("/readyz")
@bp.doc(summary="Readiness: the database and Redis answer", responses=[200, 503])
def readyz() -> Any:
    """200 when the database and Redis answer within a second each, else 503 naming the failure."""
    checks = {"database": _run_check(_check_database)}
    client = get_redis(probe=True)
    checks["redis"] = "not configured" if client is None else _run_check(_check_redis, client)
    failed = sorted(name for name, result in checks.items() if result != "ok")
    if failed:
        detail = "Not ready: " + "; ".join(f"{name} {checks[name]}" for name in failed) + "."
        return problem(503, detail, checks=checks)
    return {"status": "ok", "checks": checks}, 200
