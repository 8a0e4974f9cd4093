"""Helpers for the auth, users and posts API tests: logins, headers, problem bodies, forged JWTs."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any
from uuid import uuid4

from flask.testing import FlaskClient

PASSWORD = "correct horse battery"
PROBLEM = "application/problem+json"
LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"


def problem(response: Any, status: int) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with ``status``; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status
    assert {"type", "title", "status", "detail"} <= body.keys()
    return body


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def login(client: FlaskClient, username: str, password: str = PASSWORD, **extra: Any) -> Any:
    return client.post(LOGIN, json={"username": username, "password": password, **extra})


def tokens(client: FlaskClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    """Sign in and return the token pair, asserting success."""
    response = login(client, username, password)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def me_status(client: FlaskClient, token: str) -> int:
    return int(client.get(ME, headers=bearer(token)).status_code)


def refresh_status(client: FlaskClient, token: str) -> int:
    return int(client.post(REFRESH, headers=bearer(token)).status_code)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of ``token``, without checking anything."""
    header, payload, _ = token.split(".")
    pad = "=" * (-len(payload) % 4)
    claims = json.loads(base64.urlsafe_b64decode(payload + pad))
    header_pad = "=" * (-len(header) % 4)
    return json.loads(base64.urlsafe_b64decode(header + header_pad)), claims


def hs256_with_any_key(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """Sign with HMAC-SHA256 and any key bytes (PyJWT refuses PEM keys as HMAC secrets)."""
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"


def isolate_rate_limits(app_config: dict[str, Any]) -> str:
    """Give the next app its own rate-limit key prefix (returned); call before building it."""
    prefix = f"test-{uuid4().hex}"
    app_config["RATELIMIT_KEY_PREFIX"] = prefix
    return prefix
