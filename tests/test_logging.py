"""Request ids and the one log line per request, as text and as JSON."""

from __future__ import annotations

import io
import json
import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from flaskyard.settings import get_settings

HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _request_lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if "flaskyard.request" in line]


@pytest.fixture
def log_app(app_config: dict[str, Any], request: pytest.FixtureRequest) -> APIFlask:
    app_config["LOG_LEVEL"] = "INFO"
    app: APIFlask = request.getfixturevalue("app")
    return app


@pytest.fixture
def log_stream(log_app: APIFlask) -> Iterator[io.StringIO]:
    """What the app's own log handler writes, captured."""
    handlers = logging.getLogger("flaskyard").handlers
    assert len(handlers) == 1
    stream = io.StringIO()
    previous = handlers[0].setStream(stream)  # type: ignore[attr-defined]
    yield stream
    handlers[0].setStream(previous)  # type: ignore[attr-defined]


@pytest.mark.parametrize("request_id", ["abc-123", "a" * 128, "trace:1.2_3"])
def test_valid_request_id_is_echoed(client: FlaskClient, request_id: str) -> None:
    response = client.get("/healthz", headers={"X-Request-ID": request_id})
    assert response.headers["X-Request-ID"] == request_id


def test_request_id_is_generated_when_absent(client: FlaskClient) -> None:
    first = client.get("/healthz").headers["X-Request-ID"]
    second = client.get("/healthz").headers["X-Request-ID"]
    assert HEX32.match(first)
    assert HEX32.match(second)
    assert first != second


@pytest.mark.parametrize(
    "request_id",
    ["has spaces", "a" * 129, "", "bad\u00e9id", "semi;colon", "<script>"],
    ids=["spaces", "129-chars", "empty", "non-ascii", "semicolon", "markup"],
)
def test_invalid_request_id_is_replaced(client: FlaskClient, request_id: str) -> None:
    response = client.get(
        "/healthz", headers={"X-Request-ID": request_id.encode("utf-8").decode("latin-1")}
    )
    assert HEX32.match(response.headers["X-Request-ID"])


def test_request_id_on_error_responses(client: FlaskClient) -> None:
    response = client.get("/api/nope", headers={"X-Request-ID": "err-1"})
    assert response.status_code == 404
    assert response.headers["X-Request-ID"] == "err-1"


def test_one_text_line_per_request(
    log_app: APIFlask, log_stream: io.StringIO, client: FlaskClient
) -> None:
    assert get_settings(log_app).log_format == "text"
    client.get("/healthz", headers={"X-Request-ID": "req-42"})
    lines = _request_lines(log_stream)
    assert len(lines) == 1
    line = lines[0]
    assert re.search(r"\bGET /healthz 200 \d+\.\dms\b", line), line
    assert "[req-42]" in line
    assert " INFO " in line


def test_every_healthz_answer_is_logged_with_its_id(
    log_stream: io.StringIO, client: FlaskClient
) -> None:
    # The first goes through Flask, the others are answered before it: all are logged alike.
    for number in range(3):
        client.get("/healthz", headers={"X-Request-ID": f"probe-{number}"})
    lines = _request_lines(log_stream)
    assert len(lines) == 3
    for number, line in enumerate(lines):
        assert re.search(r"\bGET /healthz 200 \d+\.\dms\b", line), line
        assert f"[probe-{number}]" in line


def test_error_requests_are_logged(log_stream: io.StringIO, client: FlaskClient) -> None:
    response = client.get("/api/v1/posts?page=0")
    lines = _request_lines(log_stream)
    assert len(lines) == 1
    assert "GET /api/v1/posts 422 " in lines[0]
    assert f"[{response.headers['X-Request-ID']}]" in lines[0]


def test_generated_id_is_logged(log_stream: io.StringIO, client: FlaskClient) -> None:
    request_id = client.get("/healthz").headers["X-Request-ID"]
    assert f"[{request_id}]" in _request_lines(log_stream)[0]


def test_json_lines(app_config: dict[str, Any], request: pytest.FixtureRequest) -> None:
    app_config["LOG_FORMAT"] = "json"
    request.getfixturevalue("log_app")
    stream: io.StringIO = request.getfixturevalue("log_stream")
    client: FlaskClient = request.getfixturevalue("client")
    client.get("/api/v1/posts?per_page=5", headers={"X-Request-ID": "json-1"})
    lines = [line for line in stream.getvalue().splitlines() if line.strip()]
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["method"] == "GET"
    assert record["path"] == "/api/v1/posts"
    assert record["status"] == 200
    assert isinstance(record["duration_ms"], int | float)
    assert record["duration_ms"] >= 0
    assert record["request_id"] == "json-1"
    assert record["level"] == "INFO"
    assert record["name"] == "flaskyard.request"
    assert "time" in record


def test_level_filters_request_lines(
    app_config: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    assert app_config["LOG_LEVEL"] == "WARNING"
    request.getfixturevalue("app")
    handlers = logging.getLogger("flaskyard").handlers
    stream = io.StringIO()
    previous = handlers[0].setStream(stream)  # type: ignore[attr-defined]
    try:
        request.getfixturevalue("client").get("/healthz")
    finally:
        handlers[0].setStream(previous)  # type: ignore[attr-defined]
    assert stream.getvalue() == ""
