"""Liveness and readiness probes."""

from __future__ import annotations

import time
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from apiflask import APIBlueprint
from flask import current_app
from redis import Redis

from flaskyard.broker import get_redis
from flaskyard.core.problems import problem
from flaskyard.extensions import db
from flaskyard.logs import REQUEST_ID_HEADER, log_request, request_id_from
from flaskyard.metrics import count_request

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

bp = APIBlueprint("health", __name__, tag="Health")
CHECK_TIMEOUT_SECONDS = 1.0
LIVENESS_PATH = "/healthz"
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


@bp.get(LIVENESS_PATH)
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


class Liveness:
    """WSGI middleware that answers ``GET /healthz`` before Flask, with Flask's own answer.

    The first such request (per scheme: HSTS is only sent over HTTPS) goes through the app;
    its status, headers and body are kept and replayed from then on, with a fresh
    ``X-Request-ID``. Each answer is still logged (``flaskyard.request``) and counted in the
    metrics. A request with an ``Origin`` (CORS headers depend on it) or anything but GET goes
    through Flask as before.
    """

    def __init__(self, wsgi_app: WSGIApplication) -> None:
        self._next = wsgi_app
        #: https? -> (status line, headers without the request id, body)
        self._answers: dict[bool, tuple[str, list[tuple[str, str]], bytes]] = {}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if (
            environ.get("PATH_INFO") != LIVENESS_PATH
            or environ.get("REQUEST_METHOD") != "GET"
            or "HTTP_ORIGIN" in environ
        ):
            return self._next(environ, start_response)
        started = time.perf_counter()
        secure = (
            environ.get("wsgi.url_scheme") == "https"
            or environ.get("HTTP_X_FORWARDED_PROTO") == "https"
        )
        answer = self._answers.get(secure)
        if answer is None:
            return self._learn(secure, environ, start_response)
        status, headers, body = answer
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response(status, [*headers, (REQUEST_ID_HEADER, request_id)])
        seconds = time.perf_counter() - started
        log_request("GET", LIVENESS_PATH, 200, seconds * 1000, request_id)
        count_request(LIVENESS_PATH, "GET", 200, seconds)
        return [body]

    def _learn(
        self, secure: bool, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        seen: list[Any] = []

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            seen[:] = [status, headers]
            return start_response(status, headers, exc_info)

        chunks = self._next(environ, capture)
        try:
            body = b"".join(chunks)
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        status, headers = seen
        kept = [(k, v) for k, v in headers if k.lower() != REQUEST_ID_HEADER.lower()]
        if status.startswith("200") and not any(
            k.lower() in ("set-cookie", "vary") for k, _ in kept
        ):
            self._answers[secure] = (status, kept, body)
        return [body]
