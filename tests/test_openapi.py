"""The OpenAPI document lists every answer the API gives, with its real media type."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from flaskyard.openapi import TAGS
from flaskyard.uploads.storage import ALLOWED_TYPES
from tests.support.backends import SQLITE

pytestmark = SQLITE

#: Endpoints behind a rate limit (Flask-Limiter, or the per-user caps on jobs and streams).
THROTTLED = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/password-reset"),
    ("POST", "/api/v1/auth/verify-email"),
    ("POST", "/api/v1/users/me/password"),
    ("POST", "/api/v1/users/me/email"),
    ("DELETE", "/api/v1/users/me"),
    ("POST", "/api/v1/jobs"),
    ("GET", "/api/v1/jobs/{job_id}/events"),
}
#: Endpoints that hash or check a password, and so pass the HashGate (503 when it is full).
HASHING = {
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/password-reset/confirm"),
    ("POST", "/api/v1/users/me/password"),
    ("POST", "/api/v1/users/me/email"),
    ("DELETE", "/api/v1/users/me"),
}


@pytest.fixture
def spec(client: FlaskClient) -> dict[str, Any]:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, operations in spec["paths"].items()
        for method, operation in operations.items()
        if isinstance(operation, dict)
    ]


def test_tags_are_listed_once_with_a_description_and_every_operation_has_one(
    spec: dict[str, Any],
) -> None:
    names = [tag["name"] for tag in spec["tags"]]
    assert len(names) == len(set(names)) and "default" not in names
    assert all(tag.get("description") for tag in spec["tags"])
    for method, path, operation in _operations(spec):
        assert operation.get("tags"), (method, path)
        assert set(operation["tags"]) <= set(names), (method, path)
    assert names == [tag["name"] for tag in TAGS]


def test_every_answer_is_described_and_every_operation_has_an_id(spec: dict[str, Any]) -> None:
    ids = [operation["operationId"] for _, _, operation in _operations(spec)]
    assert len(ids) == len(set(ids))
    for method, path, operation in _operations(spec):
        for status, response in operation["responses"].items():
            assert response.get("description"), (method, path, status)


def test_json_bodies_document_400_413_415_and_every_api_call_422_and_503(
    spec: dict[str, Any],
) -> None:
    for method, path, operation in _operations(spec):
        statuses = set(operation["responses"])
        assert "422" in statuses, (method, path)  # the query is checked on every request
        if path.startswith("/api/v1/"):
            assert "503" in statuses, (method, path)
            assert "Retry-After" in operation["responses"]["503"]["headers"], (method, path)
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert {"400", "413", "415", "422"} <= statuses, (method, path, statuses)


def test_operations_that_need_a_token_document_401(spec: dict[str, Any]) -> None:
    for method, path, operation in _operations(spec):
        if operation.get("security") and {} not in operation["security"]:
            assert "401" in operation["responses"], (method, path)


def test_throttled_endpoints_document_429_with_retry_after(spec: dict[str, Any]) -> None:
    for method, path in THROTTLED:
        answer = spec["paths"][path][method.lower()]["responses"]["429"]
        assert "Retry-After" in answer["headers"], (method, path)


def test_password_endpoints_document_the_busy_503(spec: dict[str, Any]) -> None:
    for method, path in HASHING:
        answer = spec["paths"][path][method.lower()]["responses"]["503"]
        assert "passwords are being checked" in answer["description"], (method, path)


def test_binary_and_event_stream_answers_have_their_media_types(spec: dict[str, Any]) -> None:
    download = spec["paths"]["/api/v1/uploads/{upload_id}"]["get"]
    content = download["responses"]["200"]["content"]
    # Generated clients take the first media type: bytes, whatever was stored.
    assert next(iter(content)) == "application/octet-stream"
    assert set(ALLOWED_TYPES.values()) <= set(content)
    for media_type in ("application/octet-stream", "image/png", "image/jpeg", "application/zip"):
        assert content[media_type]["schema"] == {"type": "string", "format": "binary"}
    # Pictures attached to a post are public: the token is optional.
    assert {} in download["security"]
    events = spec["paths"]["/api/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]
    assert list(events["content"]) == ["text/event-stream"]


def test_the_event_stream_documents_its_cap_and_its_shutdown_event(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/api/v1/jobs/{job_id}/events"]["get"]
    assert "429" in operation["responses"]
    assert "EVENTS_MAX_STREAMS_PER_USER" in operation["responses"]["429"]["description"]
    assert "`shutdown` event" in operation["description"]


def test_public_reads_need_no_token(spec: dict[str, Any]) -> None:
    for path in ("/api/v1/posts", "/api/v1/posts/{post_id}"):
        assert not spec["paths"][path]["get"].get("security"), path


def test_creating_links_to_the_operations_on_what_was_created(spec: dict[str, Any]) -> None:
    ids = {operation["operationId"]: path for _, path, operation in _operations(spec)}
    created = {
        ("/api/v1/posts", "201"): "post_id",
        ("/api/v1/uploads", "201"): "upload_id",
        ("/api/v1/jobs", "202"): "job_id",
    }
    for (path, status), parameter in created.items():
        links = spec["paths"][path]["post"]["responses"][status]["links"]
        assert links, path
        for link in links.values():
            assert link["operationId"] in ids, link
            assert f"{{{parameter}}}" in ids[link["operationId"]]
            assert link["parameters"] == {parameter: "$response.body#/id"}
