"""Jobs tests: a private, flushed Redis per test; accounts; worker subprocesses."""

from tests.support.fixtures import _isolated_redis, accounts, jobs_redis_url, redis, workers

__all__ = ["_isolated_redis", "accounts", "jobs_redis_url", "redis", "workers"]
