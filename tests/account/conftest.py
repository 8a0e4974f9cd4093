"""Account tests: a private, flushed Redis per test; accounts; a development mailbox."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.fixtures import _isolated_redis, accounts, jobs_redis_url, redis, workers

__all__ = ["_isolated_redis", "accounts", "jobs_redis_url", "mailbox", "redis", "workers"]


@pytest.fixture
def mailbox(app_config: dict[str, Any]) -> None:
    """Keep every delivered mail in the instance's mailbox, as in development."""
    app_config["DEV_MAILBOX"] = True
