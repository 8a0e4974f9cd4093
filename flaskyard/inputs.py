"""Input no database can store, refused before any schema or query sees it.

Every request passes here first, so the rules hold for every endpoint (sign-in included)
without each schema repeating them: a JSON body is size-capped and depth-checked before it
is parsed, then walked once; NUL characters, lone surrogates, non-finite numbers and integers
wider than 64 bits are answered with a 422 naming the field, wherever they appear. A
database would otherwise refuse them mid-query (PostgreSQL rejects NUL in text, no driver
encodes a lone surrogate, BIGINT stops at 2**63 - 1) and the client would see a 500.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator
from itertools import accumulate
from typing import IO, Any

from flask import Flask, Response, current_app, request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import RequestEntityTooLarge

from flaskyard.core.problems import Message, problem, validation_problem
from flaskyard.settings import current_settings

#: Deeper JSON than this is refused before parsing: no request schema nests half as deep.
MAX_JSON_DEPTH = 32
#: What a BIGINT column (and every integer the API stores) holds.
INT_MIN, INT_MAX = -(2**63), 2**63 - 1

_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET_STEP = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKET_STEP)
_SURROGATE = re.compile("[\ud800-\udfff]")

NUL_MESSAGE = "Text must not contain the NUL character."
SURROGATE_MESSAGE = "Text must be valid Unicode (it contains a lone surrogate)."
RANGE_MESSAGE = Message(
    "Numbers must be integers from %(low)s to %(high)s or finite decimals.",
    low=INT_MIN,
    high=INT_MAX,
)
TOO_DEEP = Message("The JSON body is nested more than %(depth)s levels deep.", depth=MAX_JSON_DEPTH)
NOT_JSON = "The request body is not valid JSON."
NOT_JSON_TYPE = "This endpoint takes a JSON body: send it with Content-Type: application/json."


def json_depth(data: bytes) -> int:
    """How deeply arrays and objects nest in ``data``, counted without parsing it."""
    if data.count(b"[") + data.count(b"{") <= MAX_JSON_DEPTH:
        return 0  # too few brackets to go deeper than the limit: skip the scan
    brackets = _JSON_STRING.sub(b"", data).translate(None, _NOT_BRACKETS)
    return max(accumulate(_BRACKET_STEP[b] for b in brackets), default=0)


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored, or None when it can."""
    if "\x00" in value:
        return NUL_MESSAGE
    if _SURROGATE.search(value):
        return SURROGATE_MESSAGE
    return None


def _walk(node: Any, path: str) -> Iterator[tuple[str, str]]:
    # Iterative would save stack, but the depth is already bounded by MAX_JSON_DEPTH.
    if isinstance(node, str):
        reason = text_problem(node)
        if reason:
            yield path, reason
    elif isinstance(node, bool) or node is None:
        return
    elif isinstance(node, int):
        if not INT_MIN <= node <= INT_MAX:
            yield path, RANGE_MESSAGE
    elif isinstance(node, float):
        if not math.isfinite(node):
            yield path, RANGE_MESSAGE
    elif isinstance(node, dict):
        for key, value in node.items():
            child = f"{path}.{key}" if path else str(key)
            reason = text_problem(key)
            if reason:
                yield child, reason
            else:
                yield from _walk(value, child)
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _walk(value, f"{path}.{index}" if path else str(index))


class CappedInput:
    """A chunked request body that raises 413 past ``limit`` bytes instead of ending there.

    Werkzeug caps a body without ``Content-Length`` by cutting it short, which hands the
    parsers a truncated document (a 400, or worse, a smaller form that parses).
    """

    def __init__(self, stream: IO[bytes], limit: int) -> None:
        self._stream = stream
        self._limit = limit
        self._seen = 0

    def read(self, size: int | None = -1) -> bytes:
        data = self._stream.read(-1 if size is None else size)
        self._seen += len(data)
        if self._seen > self._limit:
            raise RequestEntityTooLarge()
        return data

    def readline(self, size: int | None = -1) -> bytes:
        data = self._stream.readline(-1 if size is None else size)
        self._seen += len(data)
        if self._seen > self._limit:
            raise RequestEntityTooLarge()
        return data


def _cap_body(limit: int) -> None:
    if request.content_length is None and "wsgi.input_terminated" in request.environ:
        request.environ["wsgi.input"] = CappedInput(request.environ["wsgi.input"], limit)
        # One byte past the limit reaches the wrapper, which raises rather than truncates.
        request.max_content_length = limit + 1
    else:
        request.max_content_length = limit


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _check_pairs(values: MultiDict[str, str]) -> Iterator[tuple[str, str]]:
    for key, value in values.items(multi=True):
        reason = text_problem(key) or text_problem(value)
        if reason:
            yield key, reason


def _errors(found: Iterator[tuple[str, str]]) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for field, message in found:
        errors.setdefault(field, []).append(message)
    return errors


def _takes_json() -> bool:
    # APIFlask's @input notes the body's media type on the view; only JSON-only views count.
    view = current_app.view_functions.get(request.endpoint or "")
    spec = getattr(view, "_spec", None) or {}
    return bool(spec.get("content_type") == "application/json")


def _has_body() -> bool:
    length = request.content_length
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    return bool(length) or (length is None and chunked)


#: Pages of the web app (its index for every client route, its files): they read nothing from
#: the request, and a person who follows a mangled link gets the app, which says what is wrong,
#: rather than a JSON error.
PAGE_BLUEPRINT = "web"


def check_request() -> Response | None:
    """Refuse what no endpoint can take; None lets the request through."""
    if request.blueprint == PAGE_BLUEPRINT:
        return None
    messages: dict[str, Any] = {}
    query = _errors(_check_pairs(request.args))
    if query:
        messages["query"] = query
    if not _has_body():
        # No Content-Length and not chunked: there is no body to cap, parse or refuse.
        return validation_problem(messages) if messages else None
    settings = current_settings()
    # Smaller than an upload: a JSON body is read whole into memory, then parsed.
    _cap_body(settings.MAX_JSON_BYTES if request.is_json else settings.max_content_length)
    if not request.is_json and _takes_json():
        # Otherwise the view would see no JSON at all and answer "field missing" (422). The
        # body is read first (under its cap: 413 past it), so the client hears the answer.
        request.get_data()
        return problem(415, NOT_JSON_TYPE)
    if request.is_json:
        data = request.get_data(cache=True)  # over the limit: 413 here, before parsing
        if data:
            if json_depth(data) > MAX_JSON_DEPTH:
                return problem(400, TOO_DEEP)
            try:
                body = json.loads(data, parse_constant=_reject_constant)
            except (ValueError, RecursionError):
                return problem(400, NOT_JSON)
            found = _errors(_walk(body, ""))
            if found:
                messages["json"] = found
    elif request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = _errors(_check_pairs(request.form))
        if form:
            messages["form"] = form
    if messages:
        return validation_problem(messages)
    return None


def init_app(app: Flask) -> None:
    """Check every request before its view (and its schemas) run."""
    app.before_request(check_request)
