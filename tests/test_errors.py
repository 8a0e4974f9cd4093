"""Every error is application/problem+json (RFC 9457)."""

from __future__ import annotations

from typing import Any, NoReturn

import pytest
from apiflask import APIFlask, Schema
from apiflask.fields import String
from flask import request
from flask.testing import FlaskClient

from tests.support.api import problem
from tests.support.apps import built_app


class _NameIn(Schema):
    name = String(required=True)


@pytest.fixture
def routes(app: APIFlask) -> APIFlask:
    """The app with three extra routes: JSON input, a raw body reader and a crash."""

    @app.post("/api/test/echo")
    @app.input(_NameIn)
    def echo(json_data: dict[str, str]) -> dict[str, str]:
        return json_data

    @app.post("/api/test/raw")
    def raw() -> dict[str, int]:
        return {"size": len(request.get_data())}

    @app.get("/api/test/crash")
    def crash() -> NoReturn:
        raise RuntimeError("database password is hunter2")

    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_404(client: FlaskClient) -> None:
    body = problem(client.get("/api/v1/nothing-here"), 404)
    assert body["title"] == "Not Found"


def test_405_has_allow_header(client: FlaskClient) -> None:
    response = client.post("/healthz")
    body = problem(response, 405)
    assert body["title"] == "Method Not Allowed"
    allowed = {method.strip() for method in response.headers["Allow"].split(",")}
    assert "GET" in allowed
    assert "POST" not in allowed


def test_405_on_api_collection(client: FlaskClient) -> None:
    response = client.delete("/api/v1/posts")
    problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_413_body_too_large(app_config: dict[str, Any], request: pytest.FixtureRequest) -> None:
    app_config["MAX_UPLOAD_BYTES"] = 10
    app: APIFlask = request.getfixturevalue("routes")
    limit = app.config["MAX_CONTENT_LENGTH"]
    assert limit < 2 * 1024 * 1024
    response = app.test_client().post(
        "/api/test/raw", data=b"x" * (2 * 1024 * 1024), content_type="application/octet-stream"
    )
    body = problem(response, 413)
    assert body["title"] == "Content Too Large" or body["title"] == "Request Entity Too Large"


def test_body_within_limit_is_read(routes: APIFlask) -> None:
    response = routes.test_client().post("/api/test/raw", data=b"x" * 1000)
    assert response.status_code == 200
    assert response.get_json() == {"size": 1000}


def test_malformed_json(routes: APIFlask) -> None:
    response = routes.test_client().post(
        "/api/test/echo", data='{"name": "unterminated', content_type="application/json"
    )
    body = problem(response, 400)
    assert body["title"] == "Bad Request"


def test_validation_error_lists_fields(routes: APIFlask) -> None:
    body = problem(routes.test_client().post("/api/test/echo", json={"name": 5}), 422)
    assert body["type"] != "about:blank"
    assert body["errors"] == [
        {"in": "json", "field": "name", "message": body["errors"][0]["message"]}
    ]


def test_unexpected_exception_is_500_without_details(routes: APIFlask) -> None:
    assert routes.testing is True or routes.config["PROPAGATE_EXCEPTIONS"] is False
    response = routes.test_client().get("/api/test/crash")
    body = problem(response, 500)
    assert body["title"] == "Internal Server Error"
    text = response.get_data(as_text=True)
    assert "traceback" not in body
    assert "Traceback" not in text
    assert "hunter2" not in text
    assert "RuntimeError" not in text


def test_production_500_has_no_traceback(app_config: dict[str, Any]) -> None:
    with built_app({**app_config, "APP_ENV": "production"}, "production") as app:

        @app.get("/api/test/crash")
        def crash() -> NoReturn:
            raise RuntimeError("database password is hunter2")

        response = app.test_client().get("/api/test/crash")
    body = problem(response, 500)
    assert "traceback" not in body
    assert "hunter2" not in response.get_data(as_text=True)
