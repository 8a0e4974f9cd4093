"""OpenAPI links from an answer to the operations that take its id (create, then get)."""

from __future__ import annotations

from typing import Any


def operation_id(method: str, endpoint: str) -> str:
    """The id APIFlask's ``AUTO_OPERATION_ID`` gives the view ``endpoint`` for ``method``."""
    return f"{method.lower()}_{endpoint.replace('.', '_')}"


def links(parameter: str, *targets: tuple[str, str, str]) -> dict[str, Any]:
    """Links named ``name`` to ``(name, method, endpoint)``, passing the answer's ``id``."""
    return {
        name: {
            "operationId": operation_id(method, endpoint),
            "parameters": {parameter: "$response.body#/id"},
        }
        for name, method, endpoint in targets
    }
