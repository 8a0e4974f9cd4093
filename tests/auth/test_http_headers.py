"""Security headers, HSTS only in production, the CORS allow-list, and the OpenAPI document."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

from flaskyard.settings import get_settings
from tests.support.apps import base_config, built_app, isolate_rate_limits

ORIGIN = "https://app.example"


def _config(tmp_path: Path, **extra: Any) -> dict[str, Any]:
    """An app that needs no database: these responses never touch one."""
    config = base_config(
        f"sqlite:///{tmp_path / 'headers.db'}",
        INSTANCE_DIR=tmp_path / "instance",
        UPLOAD_DIR=tmp_path / "uploads",
        **extra,
    )
    isolate_rate_limits(config)
    return config


@pytest.fixture
def plain(tmp_path: Path) -> Iterator[APIFlask]:
    with built_app(_config(tmp_path)) as application:
        yield application


@pytest.fixture
def web(plain: APIFlask) -> FlaskClient:
    return plain.test_client()


def _get(client: FlaskClient, path: str, **kwargs: Any) -> Any:
    """GET ``path`` and read the body, closing any file a file response holds open."""
    response = client.get(path, **kwargs)
    response.get_data()
    response.close()
    return response


def _assert_security_headers(response: Any) -> None:
    csp = response.headers["Content-Security-Policy"]
    directives = {part.strip().split(" ", 1)[0]: part.strip() for part in csp.split(";") if part}
    assert directives["object-src"] == "object-src 'none'"
    assert directives["base-uri"] == "base-uri 'none'"
    assert directives["frame-ancestors"] == "frame-ancestors 'none'"
    assert "'unsafe-inline'" not in directives.get("script-src", "")
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"]
    assert response.headers.get("X-Frame-Options") in (None, "DENY", "SAMEORIGIN")


@pytest.mark.parametrize("path", ["/healthz", "/api/v1/posts/not-a-uuid", "/", "/some/spa/route"])
def test_security_headers(web: FlaskClient, path: str) -> None:
    response = _get(web, path)
    assert response.status_code in (200, 404)
    _assert_security_headers(response)
    assert "Strict-Transport-Security" not in response.headers


def test_security_headers_on_errors_and_auth_failures(web: FlaskClient) -> None:
    response = web.get("/api/v1/users/me")
    assert response.status_code == 401
    _assert_security_headers(response)


def test_no_hsts_outside_production_even_over_https(web: FlaskClient) -> None:
    response = web.get("/healthz", base_url="https://localhost")
    assert "Strict-Transport-Security" not in response.headers


def test_hsts_in_production(tmp_path: Path, redis_url: str) -> None:
    config = _config(
        tmp_path,
        APP_ENV="production",
        SECRET_KEY=secrets.token_urlsafe(36),
        JWT_SECRET_KEY=secrets.token_urlsafe(36),
        TOKEN_BLOCKLIST="redis",
        GUNICORN_WORKERS=1,
        LOG_LEVEL="WARNING",
    )
    assert len(config["SECRET_KEY"]) == 48
    with built_app(config, mode="production") as application:
        assert get_settings(application).APP_ENV == "production"
        client = application.test_client()
        response = client.get("/healthz", base_url="https://localhost")
        assert response.status_code == 200
        hsts = response.headers["Strict-Transport-Security"]
        assert "max-age=31536000" in hsts
        _assert_security_headers(response)
        proxied = client.get("/healthz", headers={"X-Forwarded-Proto": "https"})
        assert "Strict-Transport-Security" in proxied.headers
        assert "Strict-Transport-Security" not in client.get("/healthz").headers  # plain http
        # Answered again before Flask (health.Liveness), each scheme keeps its own headers.
        assert "Strict-Transport-Security" in client.get("/healthz", base_url="https://x").headers
        assert "Strict-Transport-Security" not in client.get("/healthz").headers


def test_no_cors_by_default(web: FlaskClient) -> None:
    response = web.get("/api/v1/posts/not-a-uuid", headers={"Origin": ORIGIN})
    assert "Access-Control-Allow-Origin" not in response.headers
    preflight = web.options(
        "/api/v1/auth/login",
        headers={"Origin": ORIGIN, "Access-Control-Request-Method": "POST"},
    )
    assert "Access-Control-Allow-Origin" not in preflight.headers


def test_cors_allow_list(tmp_path: Path) -> None:
    with built_app(_config(tmp_path, CORS_ORIGINS=ORIGIN)) as application:
        client = application.test_client()
        allowed = client.get("/healthz", headers={"Origin": ORIGIN})
        api = client.get("/api/v1/posts/not-a-uuid", headers={"Origin": ORIGIN})
        assert api.headers.get("Access-Control-Allow-Origin") == ORIGIN
        preflight = client.options(
            "/api/v1/auth/login",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "Content-Type, Authorization",
            },
        )
        assert preflight.headers.get("Access-Control-Allow-Origin") == ORIGIN
        assert "*" not in preflight.headers.get("Access-Control-Allow-Origin", "")
        other = client.get("/api/v1/posts/not-a-uuid", headers={"Origin": "https://evil.example"})
        assert "Access-Control-Allow-Origin" not in other.headers
        assert allowed.status_code == 200


def test_openapi_lists_auth_paths_and_bearer_scheme(tmp_path: Path) -> None:
    with built_app(_config(tmp_path)) as application:
        response = application.test_client().get("/api/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    paths = spec["paths"]
    for path in (
        "/api/v1/auth/register",
        "/api/v1/auth/login",
        "/api/v1/auth/refresh",
        "/api/v1/auth/logout",
        "/api/v1/auth/password-reset",
        "/api/v1/auth/password-reset/confirm",
        "/api/v1/auth/verify-email/confirm",
        "/api/v1/users/me",
    ):
        assert path in paths, path
    assert "post" in paths["/api/v1/auth/login"]
    scheme = spec["components"]["securitySchemes"]["BearerAuth"]
    assert scheme["type"] == "http"
    assert scheme["scheme"].lower() == "bearer"
    assert {"BearerAuth": []} in paths["/api/v1/users/me"]["get"]["security"]
    assert {"BearerAuth": []} in paths["/api/v1/auth/refresh"]["post"]["security"]
