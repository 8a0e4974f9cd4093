"""The OpenAPI document: tags, and the answers every operation can give besides its own.

Routes document what their view answers (``@bp.doc(responses=...)``). Some answers come from
layers every request passes through instead (input checks, token checks, an unreachable
database), so no view lists them; the spec processor here adds them by rule, so the document
tells the truth about every operation without each route repeating it.
"""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from apiflask import APIFlask
from flask import Response

from flaskyard.core.problems import PROBLEM_MIMETYPE

#: Every tag, once, in the order the docs show them, with what it holds (the blueprints name
#: the tag of each operation; two of them share "Auth", which APIFlask would list twice).
TAGS: list[dict[str, str]] = [
    {"name": "Auth", "description": "Sign-up, sign-in, tokens, password reset, verification."},
    {"name": "Users", "description": "The signed-in user; every user for admins."},
    {"name": "Account", "description": "The signed-in user's own password, email and account."},
    {"name": "Posts", "description": "Posts with their attached pictures; reading is public."},
    {"name": "Uploads", "description": "Files: upload, list, download (public once attached)."},
    {"name": "Jobs", "description": "Background jobs, their state, and a live event stream."},
    {"name": "Health", "description": "Liveness and readiness probes."},
    {"name": "Development", "description": "Development helpers; 404 in production."},
]

UNAVAILABLE = "A backing service (the database or Redis) is unavailable; see Retry-After."
BAD_INPUT = (
    "A field is invalid, or the query or body holds text no database can store "
    "(a NUL character, a lone surrogate) or a number out of range."
)
#: Answers any JSON body can get before its schema runs (flaskyard.inputs).
BODY_ANSWERS = {
    400: "The body is not valid JSON, or nests too deeply.",
    413: "The body is too large.",
    415: "The body is not sent as application/json.",
}
UNAUTHENTICATED = "No valid access token: missing, expired, revoked, or of the wrong kind."
#: Answers that say when to try again.
RETRY_AFTER = {
    "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "schema": {"type": "integer"},
    }
}

_PROBLEM = {"$ref": "#/components/schemas/HTTPError"}
_VALIDATION = {"$ref": "#/components/schemas/ValidationError"}


def _answer(description: str, schema: dict[str, str] = _PROBLEM) -> dict[str, Any]:
    return {"description": description, "content": {PROBLEM_MIMETYPE: {"schema": dict(schema)}}}


def _requires_token(operation: dict[str, Any]) -> bool:
    # An empty requirement ({}) in the list means the token is optional.
    security = operation.get("security") or []
    return bool(security) and all(requirement for requirement in security)


def document_answers(spec: dict[str, Any]) -> dict[str, Any]:
    """Add the answers the request layer gives to every operation they apply to."""
    for path, operations in spec.get("paths", {}).items():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            responses: dict[str, Any] = operation.setdefault("responses", {})
            found: dict[int, dict[str, Any]] = {422: _answer(BAD_INPUT, _VALIDATION)}
            if path.startswith("/api/v1/"):
                found[503] = _answer(UNAVAILABLE)
            body = operation.get("requestBody", {}).get("content", {})
            if "application/json" in body:
                found.update({status: _answer(text) for status, text in BODY_ANSWERS.items()})
            elif body:
                found[413] = _answer(BODY_ANSWERS[413])
            if _requires_token(operation):
                found[401] = _answer(UNAUTHENTICATED)
            for code, answer in found.items():
                responses.setdefault(str(code), answer)
            for status, response in responses.items():
                if not response.get("description"):
                    response["description"] = HTTPStatus(int(status)).phrase
                if status in ("429", "503"):
                    response.setdefault("headers", {}).update(RETRY_AFTER)
            # The document is served in this order: statuses ascending, as a reader expects.
            operation["responses"] = dict(sorted(responses.items()))
    return spec


def document_problem_json(spec: dict[str, Any]) -> dict[str, Any]:
    """Error bodies are sent as application/problem+json; APIFlask documents application/json."""
    for operations in spec.get("paths", {}).values():
        for operation in operations.values():
            if not isinstance(operation, dict):
                continue
            for status, response in operation.get("responses", {}).items():
                content = response.get("content", {})
                if str(status)[:1] in "45" and "application/json" in content:
                    content[PROBLEM_MIMETYPE] = content.pop("application/json")
    return spec


def _process(spec: dict[str, Any] | str) -> dict[str, Any] | str:
    if not isinstance(spec, dict):
        return spec
    spec["tags"] = [dict(tag) for tag in TAGS]
    return document_answers(document_problem_json(spec))


def init_app(app: APIFlask) -> None:
    """Tags, operation ids (for links and generated clients), and the rule-based answers."""
    app.config["AUTO_OPERATION_ID"] = True
    # APIFlask keeps one spec processor.
    app.spec_processor(_process)

    def spec() -> Response:
        # Served in the order it was written, not with sorted keys (Flask's JSON default): a
        # response's first media type is the one generated clients take, so the download's
        # application/octet-stream must stay ahead of application/json.
        document = app._get_spec("json")  # cached after the first request
        return Response(json.dumps(document), mimetype=app.config["JSON_SPEC_MIMETYPE"])

    if "openapi.spec" in app.view_functions:
        app.view_functions["openapi.spec"] = spec
