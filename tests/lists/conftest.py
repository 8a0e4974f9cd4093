"""List-cost tests: a private, flushed Redis per test; accounts."""

from tests.support.fixtures import _isolated_redis, accounts, jobs_redis_url, redis

__all__ = ["_isolated_redis", "accounts", "jobs_redis_url", "redis"]
