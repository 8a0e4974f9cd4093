"""Every error as ``application/problem+json`` (RFC 9457)."""

from __future__ import annotations

import traceback
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from apiflask import APIFlask, HTTPError
from flask import Response, current_app, json
from redis.exceptions import RedisError
from werkzeug.exceptions import HTTPException

PROBLEM_MIMETYPE = "application/problem+json"
#: The error body every endpoint returns, for the OpenAPI document.
PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "RFC 9457 problem details, served as application/problem+json.",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
    },
    "required": ["type", "title", "status", "detail"],
}
VALIDATION_PROBLEM_SCHEMA: dict[str, Any] = {
    **PROBLEM_SCHEMA,
    "properties": {
        **PROBLEM_SCHEMA["properties"],
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "in": {"type": "string"},
                    "field": {"type": "string"},
                    "message": {"type": "string"},
                },
            },
        },
    },
}
VALIDATION_TYPE = "/problems/validation-error"


def _flatten(detail: Mapping[str, Any]) -> list[dict[str, str]]:
    """Turn ``{"json": {"title": ["msg"]}}`` into ``[{"in", "field", "message"}]``."""
    errors: list[dict[str, str]] = []

    def walk(location: str, prefix: str, node: Any) -> None:
        if isinstance(node, Mapping):
            for key, value in node.items():
                walk(location, f"{prefix}.{key}" if prefix else str(key), value)
        elif isinstance(node, list | tuple):
            for item in node:
                walk(location, prefix, item)
        else:
            errors.append({"in": location, "field": prefix, "message": str(node)})

    for location, fields in detail.items():
        walk(str(location), "", fields)
    return errors


def problem(
    status: int,
    detail: str | None = None,
    *,
    title: str | None = None,
    type_: str = "about:blank",
    headers: Any = None,
    **extra: Any,
) -> Response:
    """Build a problem+json response; the one place every error body is shaped."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {"type": type_, "title": title or phrase, "status": status}
    body["detail"] = detail or phrase
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    if headers:
        response.headers.extend(headers)
    return response


def _handle(error: HTTPError) -> Response:
    status = error.status_code
    if status == 422 and isinstance(error.detail, Mapping) and error.detail:
        return problem(
            422,
            "The request has invalid fields.",
            title="Validation error",
            type_=VALIDATION_TYPE,
            errors=_flatten(error.detail),
            headers=error.headers,
        )
    detail = error.detail if isinstance(error.detail, str) and error.detail else None
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


def _redis_down(exc: RedisError) -> Response:
    current_app.logger.error("Redis is unavailable: %s", exc)
    return problem(503, "A backing service (Redis) is unavailable; try again shortly.")


def init_app(app: APIFlask) -> None:
    """Route every HTTP error through the problem+json shape."""
    app.error_processor(_handle)
    app.register_error_handler(RedisError, _redis_down)
    app.spec_processor(_document_problem_json)
    app.register_error_handler(HTTPException, _handle_werkzeug)
