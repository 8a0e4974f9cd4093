"""A mailbox for the loopback SMTP server of the mail-flow tests."""

from __future__ import annotations

import email
import email.message
import email.policy
import threading
from typing import Any


class Mailbox:
    """Messages the loopback SMTP server received, as parsed email messages."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        """aiosmtpd's hook for a received message (its name is aiosmtpd's)."""
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
        return "250 Message accepted for delivery"

    def bodies(self) -> list[str]:
        """The plain-text body of every message so far."""
        with self._lock:
            messages = list(self.messages)
        bodies = []
        for message in messages:
            part = message.get_body(("plain",))
            assert part is not None, f"a message without a plain-text part: {message}"
            bodies.append(str(part.get_content()))
        return bodies
