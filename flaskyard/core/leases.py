"""Counted leases in Redis: at most N holders per owner, across every process.

Each owner has a sorted set whose members are lease tokens and whose scores are the times the
leases expire. Taking one drops the expired members and counts the rest in one Lua script, so
two processes can never both take the last slot. The process that holds a lease renews it
(``renew``, every third of the lease); a process that dies stops renewing, and its leases
expire on their own instead of holding slots for ever.
"""

from __future__ import annotations

import math
import threading
import time
import uuid

from redis import Redis
from redis.exceptions import RedisError

#: KEYS[1] the owner's set; ARGV: now, lease seconds, limit, token. 1 when taken, else 0.
_ACQUIRE = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[3]) then
  return 0
end
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil(tonumber(ARGV[2]) * 1000))
return 1
"""


class Leases:
    """Leases of one kind (``prefix``), held by this process and renewed by its owner thread."""

    def __init__(self, redis: Redis, prefix: str, seconds: float) -> None:
        self._redis = redis
        self._prefix = prefix
        self.seconds = seconds
        self._acquire = redis.register_script(_ACQUIRE)
        self._lock = threading.Lock()
        self._held: dict[str, str] = {}  # token -> owner

    def _key(self, owner: str) -> str:
        return f"{self._prefix}{owner}"

    def acquire(self, owner: str, limit: int) -> str | None:
        """A new lease for ``owner`` (its token), or None when ``limit`` are held already."""
        token = uuid.uuid4().hex
        taken = self._acquire(
            keys=[self._key(owner)], args=[time.time(), self.seconds, limit, token]
        )
        if not taken:
            return None
        with self._lock:
            self._held[token] = owner
        return token

    def release(self, token: str) -> None:
        """Give the lease back (again or unknown: nothing happens)."""
        with self._lock:
            owner = self._held.pop(token, None)
        if owner is None:
            return
        try:
            self._redis.zrem(self._key(owner), token)
        except RedisError:
            pass  # it expires on its own

    def count(self, owner: str) -> int:
        """Leases ``owner`` holds now, in every process."""
        key = self._key(owner)
        count: int = self._redis.zcount(key, time.time(), math.inf)  # type: ignore[assignment]
        return count

    def renew(self) -> None:
        """Push back the expiry of every lease this process holds (one round trip)."""
        with self._lock:
            held = list(self._held.items())
        if not held:
            return
        expires = time.time() + self.seconds
        ttl = math.ceil(self.seconds * 1000)
        pipe = self._redis.pipeline(transaction=False)
        for token, owner in held:
            # XX: a lease released meanwhile stays released.
            pipe.zadd(self._key(owner), {token: expires}, xx=True)
        for owner in {owner for _, owner in held}:
            pipe.pexpire(self._key(owner), ttl)
        pipe.execute()
