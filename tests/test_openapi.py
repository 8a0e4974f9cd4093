"""The OpenAPI document lists every answer the API gives, with its real media type."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.support.backends import SQLITE

pytestmark = SQLITE


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


def test_every_operation_has_a_tag(spec: dict[str, Any]) -> None:
    untagged = [(m, p) for m, p, op in _operations(spec) if not op.get("tags")]
    assert untagged == []
    assert "default" not in {tag["name"] for tag in spec.get("tags", [])}


def test_json_bodies_document_400_413_and_every_api_call_503(spec: dict[str, Any]) -> None:
    for method, path, operation in _operations(spec):
        statuses = set(operation["responses"])
        if path.startswith("/api/v1/"):
            assert "503" in statuses, (method, path)
        if "application/json" in operation.get("requestBody", {}).get("content", {}):
            assert {"400", "413", "422"} <= statuses, (method, path, statuses)


def test_throttled_endpoints_document_429(spec: dict[str, Any]) -> None:
    for path in ("/api/v1/auth/login", "/api/v1/auth/register", "/api/v1/auth/password-reset"):
        assert "429" in spec["paths"][path]["post"]["responses"], path


def test_binary_and_event_stream_answers_have_their_media_types(spec: dict[str, Any]) -> None:
    download = spec["paths"]["/api/v1/uploads/{upload_id}"]["get"]["responses"]["200"]
    assert list(download["content"]) == ["application/octet-stream"]
    assert download["content"]["application/octet-stream"]["schema"]["format"] == "binary"
    events = spec["paths"]["/api/v1/jobs/{job_id}/events"]["get"]["responses"]["200"]
    assert list(events["content"]) == ["text/event-stream"]


def test_the_event_stream_documents_its_cap_and_its_shutdown_event(spec: dict[str, Any]) -> None:
    operation = spec["paths"]["/api/v1/jobs/{job_id}/events"]["get"]
    assert "429" in operation["responses"]
    assert "EVENTS_MAX_STREAMS_PER_USER" in operation["responses"]["429"]["description"]
    assert "`shutdown` event" in operation["description"]
