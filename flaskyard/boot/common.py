"""What every boot step shares: the roles, the error and the logger."""

from __future__ import annotations

import logging

ROLES = ("web", "worker", "dashboard", "scheduler", "migrate", "all-in-one")
DEFAULT_ROLE = "web"

log = logging.getLogger("flaskyard.boot")


class BootError(Exception):
    """Boot cannot go on; the message is one sentence for the operator."""


def first_line(exc: BaseException) -> str:
    """``Type: first line of the message``, fit for one log line."""
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'failed'}"
