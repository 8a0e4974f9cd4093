"""Liveness and readiness probes."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from flask import request
from flask.testing import FlaskClient
from werkzeug.datastructures import Headers

from tests.support.apps import base_config, built_app

UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_readyz_ok(app_config: dict[str, Any], redis_url: str) -> None:
    app_config["REDIS_URL"] = redis_url
    with built_app(app_config) as app:
        response = app.test_client().get("/readyz")
    assert response.status_code == 200
    body = response.get_json()
    assert body["status"] == "ok"
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] == "ok"


def test_readyz_names_redis_when_it_is_down(database_url: str, tmp_path: Path) -> None:
    config = base_config(
        database_url, REDIS_URL="redis://127.0.0.1:1/0", INSTANCE_DIR=tmp_path / "instance"
    )
    with built_app(config) as app:
        started = time.monotonic()
        response = app.test_client().get("/readyz")
        elapsed = time.monotonic() - started
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["status"] == 503
    assert "redis" in body["detail"]
    assert "database" not in body["detail"]
    assert body["checks"]["database"] == "ok"
    assert body["checks"]["redis"] != "ok"
    assert elapsed <= 1.5


def test_readyz_names_database_when_it_is_down(tmp_path: Path, redis_url: str) -> None:
    config = base_config(UNREACHABLE_DB, REDIS_URL=redis_url, INSTANCE_DIR=tmp_path / "instance")
    with built_app(config) as app:
        client = app.test_client()
        started = time.monotonic()
        response = client.get("/readyz")
        elapsed = time.monotonic() - started
        alive = client.get("/healthz")
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert "database" in body["detail"]
    assert body["checks"]["database"] != "ok"
    assert body["checks"]["redis"] == "ok"
    assert elapsed <= 1.5
    # Liveness never depends on the database.
    assert alive.status_code == 200


def test_readyz_says_what_failed_not_where(tmp_path: Path) -> None:
    config = base_config(
        UNREACHABLE_DB, REDIS_URL="redis://127.0.0.1:1/0", INSTANCE_DIR=tmp_path / "instance"
    )
    with built_app(config) as app:
        response = app.test_client().get("/readyz")
    assert response.status_code == 503
    text = response.get_data(as_text=True)
    body = response.get_json(force=True)
    assert body["checks"] == {"database": "unavailable", "redis": "unavailable"}
    for secret in ("127.0.0.1", ":1", "postgres", "Error", "refused"):
        assert secret not in text, (secret, text)


def test_healthz_is_answered_before_flask_with_flasks_own_answer(client: FlaskClient) -> None:
    app = client.application
    reached: list[str] = []
    app.before_request(lambda: reached.append(request.path))
    for base_url in ("http://localhost", "https://localhost"):
        first = client.get("/healthz", base_url=base_url)
        replayed = [client.get("/healthz", base_url=base_url) for _ in range(3)]
        for response in replayed:
            assert response.status == first.status
            assert response.data == first.data == b'{"status":"ok"}\n'
            assert _without_request_id(response.headers) == _without_request_id(first.headers)
        ids = {r.headers["X-Request-ID"] for r in [first, *replayed]}
        assert len(ids) == 4  # a fresh id on every answer
    # Only the first answer per scheme went through Flask.
    assert reached == ["/healthz", "/healthz"]


def test_healthz_with_an_origin_or_another_method_goes_through_flask(client: FlaskClient) -> None:
    app = client.application
    reached: list[str] = []
    app.before_request(lambda: reached.append(request.method))
    client.get("/healthz")
    assert client.get("/healthz", headers={"Origin": "https://example.com"}).status_code == 200
    assert client.head("/healthz").status_code == 200
    assert reached == ["GET", "GET", "HEAD"]


def _without_request_id(headers: Headers) -> list[tuple[str, str]]:
    return [(k, v) for k, v in headers.items() if k != "X-Request-ID"]
