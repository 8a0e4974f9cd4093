"""Helpers for tests that read the development mailbox: delivered mail, the tokens in it."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from apiflask import APIFlask
from flask.testing import FlaskClient

from tests.support.jobs import run_inline_worker

DEV_MAIL = "/api/v1/dev/mail"


def delivered(app: APIFlask, client: FlaskClient) -> list[dict[str, Any]]:
    """Run the queued mail jobs, then list the mailbox (newest first)."""
    run_inline_worker(app, ["high"])
    response = client.get(DEV_MAIL)
    assert response.status_code == 200, response.get_data(as_text=True)
    items: list[dict[str, Any]] = response.get_json()["items"]
    return items


def link_token(message: dict[str, Any], path: str) -> str:
    """The ``token`` query value of the message's link to ``path``."""
    for link in message["links"]:
        parts = urlsplit(link)
        if parts.path == path:
            token: str = parse_qs(parts.query)["token"][0]
            return token
    raise AssertionError(f"no link to {path} in {message['links']}")


def token_in_body(body: str) -> str:
    """The bare token printed under the link, for clients without a browser."""
    match = re.search(r"verify-email/confirm:\s*\n(\S+)", body)
    assert match, body
    return match.group(1)
