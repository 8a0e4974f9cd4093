"""Auth test fixtures: a loopback SMTP server the app sends its mail through."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from flaskyard.devserver import free_port
from tests.support.mail import Mailbox


@pytest.fixture
def smtp(app_config: dict[str, Any]) -> Iterator[Mailbox]:
    """A real SMTP server on loopback; the app is configured to send through it."""
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
