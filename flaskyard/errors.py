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

from flaskyard.core.problems import PROBLEM_MIMETYPE, Message, problem, validation_problem
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


def _document_problem_json(spec: dict[str, Any] | str) -> dict[str, Any] | str:
    # APIFlask documents error bodies as application/json; they are sent as problem+json.
    if not isinstance(spec, dict):
        return spec
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if str(status)[:1] in "45" and "application/json" in content:
                    content[PROBLEM_MIMETYPE] = content.pop("application/json")
    return spec


#: Answers any JSON body can get before its schema runs (flaskyard.inputs).
BODY_ANSWERS = {
    400: "The body is not valid JSON, or nests too deeply.",
    413: "The body is too large.",
}
#: Any API operation answers 503 while the database or Redis is unreachable.
UNAVAILABLE = "A backing service (the database or Redis) is unavailable; see Retry-After."


def _document_answers(spec: dict[str, Any] | str) -> dict[str, Any] | str:
    # Statuses that come from the request layer rather than the view, so no route lists them.
    if not isinstance(spec, dict):
        return spec
    problem_content = {"application/json": {"schema": {"$ref": "#/components/schemas/HTTPError"}}}
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict) or not path.startswith("/api/v1/"):
                continue
            responses = operation.setdefault("responses", {})
            found: dict[int, str] = {503: UNAVAILABLE}
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                found.update(BODY_ANSWERS)
            for status, description in found.items():
                responses.setdefault(
                    str(status), {"description": description, "content": problem_content}
                )
    return spec


def _redis_down(exc: RedisError) -> Response:
    current_app.logger.error("Redis is unavailable: %s", exc)
    return problem(503, "A backing service (Redis) is unavailable; try again shortly.")


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
    # APIFlask keeps one spec processor: the answers are added, then all shown as problem+json.
    app.spec_processor(lambda spec: _document_problem_json(_document_answers(spec)))
    app.register_error_handler(HTTPException, _handle_werkzeug)
