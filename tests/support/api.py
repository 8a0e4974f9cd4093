"""Talking to the API in tests: sign-in, Authorization headers, the problem+json assertion."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

PASSWORD = "correct horse battery"
PROBLEM = "application/problem+json"
LOGIN = "/api/v1/auth/login"
REGISTER = "/api/v1/auth/register"
REFRESH = "/api/v1/auth/refresh"
LOGOUT = "/api/v1/auth/logout"
ME = "/api/v1/users/me"
POSTS = "/api/v1/posts"
JOBS = "/api/v1/jobs"
UPLOADS = "/api/v1/uploads"


def problem(response: TestResponse, status: int) -> dict[str, Any]:
    """Assert ``response`` is an RFC 9457 problem with ``status``; return its body."""
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == PROBLEM, response.mimetype
    body: dict[str, Any] = response.get_json(force=True)
    assert body["status"] == status
    for member in ("type", "title", "detail"):
        assert isinstance(body[member], str) and body[member], (member, body)
    return body


def bearer(token: str) -> dict[str, str]:
    """The Authorization header that carries ``token``."""
    return {"Authorization": f"Bearer {token}"}


def login(
    client: FlaskClient, username: str, password: str = PASSWORD, **extra: Any
) -> TestResponse:
    """POST the sign-in form and return the response, whatever it is."""
    return client.post(LOGIN, json={"username": username, "password": password, **extra})


def tokens(client: FlaskClient, username: str, password: str = PASSWORD) -> dict[str, Any]:
    """Sign in and return the token pair, asserting success."""
    response = login(client, username, password)
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def auth_headers(client: FlaskClient, username: str, password: str = PASSWORD) -> dict[str, str]:
    """Sign in and return the Authorization header of the access token."""
    return bearer(tokens(client, username, password)["access_token"])


def me_status(client: FlaskClient, token: str) -> int:
    """The status ``/users/me`` answers for ``token``: is the access token still good?"""
    return client.get(ME, headers=bearer(token)).status_code


def refresh_status(client: FlaskClient, token: str) -> int:
    """The status a refresh with ``token`` answers: is the refresh token still good?"""
    return client.post(REFRESH, headers=bearer(token)).status_code


def upload(client: FlaskClient, headers: dict[str, str], filename: str, content: bytes) -> str:
    """Upload ``content`` as ``filename``, asserting it was stored; return the upload's id."""
    response = client.post(
        UPLOADS,
        headers=headers,
        data={"file": (io.BytesIO(content), filename)},
        content_type="multipart/form-data",
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    upload_id: str = response.get_json()["id"]
    return upload_id
