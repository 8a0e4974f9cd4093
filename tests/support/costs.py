"""What a request costs: SQL statements on the app's engine and Redis round trips."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from redis.connection import AbstractConnection

from flaskyard.extensions import db


@dataclass
class Cost:
    """What one request cost."""

    statements: int = 0
    redis_round_trips: int = 0


@contextmanager
def counting(app: APIFlask, monkeypatch: pytest.MonkeyPatch) -> Iterator[Cost]:
    """Count SQL statements on the app's engine and commands sent to any Redis."""
    cost = Cost()
    with app.app_context():
        engine = db.engine

    def on_statement(*_args: Any) -> None:
        cost.statements += 1

    send: Any = AbstractConnection.send_packed_command  # untyped in redis-py

    def counted_send(self: AbstractConnection, command: Any, check_health: bool = True) -> None:
        cost.redis_round_trips += 1
        send(self, command, check_health)

    sa.event.listen(engine, "before_cursor_execute", on_statement)
    monkeypatch.setattr(AbstractConnection, "send_packed_command", counted_send)
    try:
        yield cost
    finally:
        monkeypatch.undo()
        sa.event.remove(engine, "before_cursor_execute", on_statement)
