"""Auth test fixtures: isolated rate-limit counters, default roles, a loopback SMTP server."""

from __future__ import annotations

import email
import email.policy
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from flask_sqlalchemy import SQLAlchemy

from flaskyard.users.services import ensure_roles
from tests.auth.util import isolate_rate_limits


@pytest.fixture(autouse=True)
def _own_rate_limit_counters(request: pytest.FixtureRequest) -> None:
    """Give every test app its own Redis key prefix, so no test sees another's counters."""
    if "app_config" in request.fixturenames:
        isolate_rate_limits(request.getfixturevalue("app_config"))


@pytest.fixture
def roles(db: SQLAlchemy) -> None:
    """The default ``user`` and ``admin`` roles."""
    ensure_roles(session=db.session)
    db.session.commit()


class Mailbox:
    """Messages the loopback SMTP server received, as parsed email messages."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)  # type: ignore[arg-type]
        return "250 Message accepted for delivery"

    def bodies(self) -> list[str]:
        with self._lock:
            return [str(m.get_body(("plain",)).get_content()) for m in self.messages]  # type: ignore[union-attr]


@pytest.fixture
def smtp(app_config: dict[str, Any]) -> Iterator[Mailbox]:
    """A real SMTP server on loopback; the app is configured to send through it."""
    from aiosmtpd.controller import Controller

    from flaskyard.devserver import free_port

    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    app_config["MAIL_SERVER"] = "127.0.0.1"
    app_config["MAIL_PORT"] = port
    try:
        yield mailbox
    finally:
        controller.stop()
