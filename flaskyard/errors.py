"""Every HTTP error as ``application/problem+json`` (RFC 9457), wired into the app."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response, current_app
from flask_babel.speaklater import LazyString
from redis.exceptions import RedisError
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from flaskyard.core.problems import Message, problem, validation_problem
from flaskyard.settings import current_settings


def _handle(error: HTTPError) -> Response:
    status = error.status_code
    if status == 422 and isinstance(error.detail, Mapping) and error.detail:
        return validation_problem(error.detail, headers=error.headers)
    raw = error.detail
    # A Message stays itself (str() would drop the template ``problem`` translates it by).
    detail: str | None = raw if isinstance(raw, Message) else None
    if detail is None:
        detail = str(raw) if isinstance(raw, str | LazyString) and str(raw) else None
    if detail is None and error.message and error.message != HTTPStatus(status).phrase:
        detail = error.message
    extra: dict[str, Any] = dict(error.extra_data or {})
    if status >= 500 and current_app.debug:
        # Development only: the trace helps the person at the keyboard and no one else.
        extra["traceback"] = traceback.format_exc().splitlines()
    return problem(status, detail, headers=error.headers, **extra)


def _handle_werkzeug(exc: HTTPException) -> Response:
    # APIFlask's own handler drops the description, which carries the useful sentence
    # (for example Flask-Limiter's message on 429), so it is replaced here.
    headers = [(k, v) for k, v in exc.get_headers() if k.lower() != "content-type"]
    status = exc.code or 500
    if exc.response is not None:  # pragma: no cover - a ready response was attached
        return exc.response  # type: ignore[return-value]
    return _handle(HTTPError(status, message=exc.name, detail=exc.description, headers=headers))


def _redis_down(exc: RedisError) -> Response:
    current_app.logger.error("Redis is unavailable: %s", exc)
    retry = str(current_settings().DATABASE_RETRY_AFTER)
    return problem(
        503,
        "A backing service (Redis) is unavailable; try again shortly.",
        headers={"Retry-After": retry},
    )


def _database_down(exc: Exception) -> Response:
    current_app.logger.error("The database is unavailable: %s", type(exc).__name__)
    # The session is removed at teardown and pool_pre_ping tests the next connection, so the
    # first request after the database is back succeeds without a restart.
    retry = str(current_settings().DATABASE_RETRY_AFTER)
    return problem(
        503,
        "The database is unavailable; try again shortly.",
        headers={"Retry-After": retry},
    )


def init_app(app: APIFlask) -> None:
    """Route every HTTP error through the problem+json shape."""
    app.error_processor(_handle)
    app.register_error_handler(RedisError, _redis_down)
    for database_error in (OperationalError, InterfaceError, DisconnectionError):
        app.register_error_handler(database_error, _database_down)
    app.register_error_handler(HTTPException, _handle_werkzeug)
