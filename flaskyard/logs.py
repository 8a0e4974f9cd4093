"""Logging set-up: one line per request, text in development and JSON lines in production."""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from flask import Flask, Response, g, has_request_context, request
from pythonjsonlogger.json import JsonFormatter

REQUEST_ID_HEADER = "X-Request-ID"
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
TEXT_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"
JSON_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s"

#: Libraries whose records go through the same handler (JSON lines in production).
ADOPTED_LOGGERS = ("rq", "alembic", "flask_migrate")

request_logger = logging.getLogger("flaskyard.request")
#: The request id outside a request: a job carries the one of the request that enqueued it.
_bound_request_id: ContextVar[str | None] = ContextVar("flaskyard_request_id", default=None)


class RequestIdFilter(logging.Filter):
    """Attach the current request id (or ``-``) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return True


def current_request_id() -> str | None:
    """The id of the request being served, or of the request that enqueued the running job."""
    if has_request_context():
        value: str | None = g.get("request_id")
        return value
    return _bound_request_id.get()


@contextmanager
def bound_request_id(request_id: str | None) -> Iterator[None]:
    """Log with ``request_id`` while outside a request (a job enqueued by that request)."""
    valid = request_id if request_id and _VALID_REQUEST_ID.match(request_id) else None
    token = _bound_request_id.set(valid)
    try:
        yield
    finally:
        _bound_request_id.reset(token)


def configure_logging(level: str, fmt: str) -> None:
    """Send the app's logs to stdout in ``fmt`` (``text`` or ``json``); idempotent."""
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    if fmt == "json":
        handler.setFormatter(
            JsonFormatter(JSON_FORMAT, rename_fields={"asctime": "time", "levelname": "level"})
        )
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    handler.set_name("flaskyard")
    root = logging.getLogger("flaskyard")
    root.handlers = [handler]
    root.setLevel(level)
    root.propagate = False
    # RQ adds its own (text) handler only to a logger without one, and the migrations' env.py
    # keeps alembic.ini's handlers off when these loggers already have this one.
    for name in ADOPTED_LOGGERS:
        adopted = logging.getLogger(name)
        adopted.handlers = [handler]
        adopted.setLevel(level)
        adopted.propagate = False


def request_id_from(incoming: str) -> str:
    """The client's ``X-Request-ID`` when it is a sane one, else a new id."""
    return incoming if _VALID_REQUEST_ID.match(incoming) else uuid.uuid4().hex


def log_request(
    method: str, path: str, status: int, duration_ms: float, request_id: str | None = None
) -> None:
    """The one line logged per request (``request_id``: when outside Flask's request context)."""
    if not request_logger.isEnabledFor(logging.INFO):
        return
    extra: dict[str, object] = {
        "method": method,
        "path": path,
        "status": status,
        "duration_ms": round(duration_ms, 2),
    }
    if request_id is not None:
        extra["request_id"] = request_id
    request_logger.info("%s %s %s %.1fms", method, path, status, duration_ms, extra=extra)


def _start() -> None:
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER, ""))
    g.request_started = time.perf_counter()


def _finish(response: Response) -> Response:
    response.headers[REQUEST_ID_HEADER] = g.get("request_id", "-")
    started = g.get("request_started")
    duration_ms = (time.perf_counter() - started) * 1000 if started is not None else 0.0
    log_request(request.method, request.path, response.status_code, duration_ms)
    return response


def init_app(app: Flask) -> None:
    """Log one line per request and echo the request id."""
    app.before_request(_start)
    app.after_request(_finish)
