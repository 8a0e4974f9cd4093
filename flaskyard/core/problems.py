"""Problem details (RFC 9457): the one place every error body is shaped and translated."""

from __future__ import annotations

from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Response, json
from flask_babel import gettext
from flask_babel import lazy_gettext as _l

from flaskyard.messages import TITLES

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
VALIDATION_TITLE = _l("Validation error")
INVALID_FIELDS = _l("The request has invalid fields.")


class Message(str):
    """An English sentence with values in it, which ``translate`` can still translate.

    It reads as the filled-in English sentence wherever a plain string is expected (logs,
    exceptions); ``translate`` looks its template up in the catalogue and fills that in, so a
    sentence like "The file is larger than the limit of 10 bytes." is German in German too.
    """

    template: str
    values: dict[str, Any]

    def __new__(cls, template: str, **values: Any) -> Message:
        """The sentence ``template % values``, remembering both parts."""
        message = super().__new__(cls, template % values)
        message.template = template
        message.values = values
        return message


def translate(text: str) -> str:
    """``text`` in the request's language when the catalogue has it, else unchanged.

    Titles, details and field messages are translated here, where every problem body is
    shaped, so the code that raises them writes plain English sentences (a ``Message`` where
    the sentence carries values).
    """
    if isinstance(text, Message):
        return str(gettext(text.template, **text.values))
    # An empty msgid would return the catalogue's header, so it is left alone.
    return gettext(text) if text else text


def field_errors(field: str, message: str, location: str = "json") -> dict[str, Any]:
    """The ``errors`` member of a problem about one field (a 409 for a taken name), so clients
    show it beside that field as they do the entries of a 422."""
    return {"errors": [{"in": location, "field": field, "message": translate(message)}]}


def flatten_errors(detail: Mapping[str, Any]) -> list[dict[str, str]]:
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
            message = node if isinstance(node, str) else str(node)
            errors.append({"in": location, "field": prefix, "message": translate(message)})

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
    """Build a problem+json response."""
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    default_title = str(TITLES[status]) if status in TITLES else translate(phrase)
    body: dict[str, Any] = {
        "type": type_,
        "title": translate(title) if title else default_title,
        "status": status,
        "detail": translate(detail) if detail else default_title,
    }
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    if headers:
        response.headers.extend(headers)
    return response


def validation_problem(
    messages: Mapping[str, Any],
    detail: str | None = None,
    *,
    headers: Any = None,
) -> Response:
    """A 422 naming each invalid field; ``messages`` is keyed by location (``json``, ``query``)."""
    return problem(
        422,
        detail or str(INVALID_FIELDS),
        title=str(VALIDATION_TITLE),
        type_=VALIDATION_TYPE,
        errors=flatten_errors(messages),
        headers=headers,
    )
