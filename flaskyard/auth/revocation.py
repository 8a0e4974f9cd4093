"""Where revoked token ids live: per-process memory, Redis, or the database.

Each entry lives exactly as long as the token it revokes could still be valid. Every store
fails closed: when it cannot answer, StoreUnavailable turns the request into a 503.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Protocol, cast

import sqlalchemy as sa
from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError

from flaskyard.auth.models import RevokedToken
from flaskyard.database import utcnow
from flaskyard.settings import get_settings

EXTENSION_KEY = "flaskyard.revocation"
REDIS_PREFIX = "flaskyard:revoked:"
log = logging.getLogger(__name__)


class StoreUnavailable(Exception):
    """The revocation store did not answer, so no token can be trusted."""


class RevocationStore(Protocol):
    """What every store does."""

    def revoke(self, key: str, ttl: int) -> None:
        """Mark ``key`` revoked for ``ttl`` seconds."""

    def revoke_if_new(self, key: str, ttl: int) -> bool:
        """Mark ``key`` revoked; False when it already was (atomic across processes)."""

    def any_revoked(self, *keys: str) -> bool:
        """Whether any of ``keys`` is revoked."""

    def purge(self) -> int:
        """Drop expired entries; return how many."""


class MemoryStore:
    """One process only: fine for tests and a single worker, wrong for anything else."""

    def __init__(self) -> None:
        self._entries: dict[str, float] = {}
        self._lock = threading.Lock()

    def revoke(self, key: str, ttl: int) -> None:
        with self._lock:
            self._entries[key] = time.monotonic() + ttl

    def revoke_if_new(self, key: str, ttl: int) -> bool:
        with self._lock:
            expires = self._entries.get(key)
            if expires is not None and expires > time.monotonic():
                return False
            self._entries[key] = time.monotonic() + ttl
            return True

    def any_revoked(self, *keys: str) -> bool:
        now = time.monotonic()
        return any(self._entries.get(key, 0.0) > now for key in keys)

    def purge(self) -> int:
        now = time.monotonic()
        with self._lock:
            dead = [key for key, expires in self._entries.items() if expires <= now]
            for key in dead:
                del self._entries[key]
        return len(dead)


class RedisStore:
    """Shared by every worker; Redis expires the entries itself."""

    def __init__(self, client: Redis) -> None:
        self._redis = client

    def revoke(self, key: str, ttl: int) -> None:
        try:
            self._redis.set(REDIS_PREFIX + key, b"1", ex=max(1, ttl))
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def revoke_if_new(self, key: str, ttl: int) -> bool:
        try:
            return bool(self._redis.set(REDIS_PREFIX + key, b"1", ex=max(1, ttl), nx=True))
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def any_revoked(self, *keys: str) -> bool:
        try:
            return bool(self._redis.exists(*(REDIS_PREFIX + key for key in keys)))
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc

    def any_revoked_with(self, keys: Sequence[str], other: str) -> tuple[bool, bytes | None]:
        """Whether any of ``keys`` is revoked, and the value at ``other``: one MGET."""
        names = [REDIS_PREFIX + key for key in keys]
        try:
            # A sync client: a list of values, not the Awaitable the stubs also allow.
            values = cast(list[bytes | None], self._redis.mget([*names, other]))
        except RedisError as exc:
            raise StoreUnavailable(str(exc)) from exc
        return any(mark is not None for mark in values[:-1]), values[-1]

    def purge(self) -> int:
        return 0


class DatabaseStore:
    """Shared by every worker through the database; ``flask purge-revoked`` clears old rows."""

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._table: sa.Table = RevokedToken.__table__  # type: ignore[assignment]

    def revoke(self, key: str, ttl: int) -> None:
        self.revoke_if_new(key, ttl)

    def revoke_if_new(self, key: str, ttl: int) -> bool:
        expires = utcnow() + timedelta(seconds=max(1, ttl))
        try:
            # Its own short transaction: a revocation must stick even if the request fails later.
            with self._engine.begin() as connection:
                current = connection.execute(
                    sa.select(self._table.c.expires_at).where(self._table.c.key == key)
                ).scalar()
                if current is not None and current > utcnow():
                    return False
                if current is not None:
                    connection.execute(self._table.delete().where(self._table.c.key == key))
                connection.execute(self._table.insert().values(key=key, expires_at=expires))
            return True
        except sa.exc.IntegrityError:
            return False  # another process revoked it first
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(str(exc).splitlines()[0]) from exc

    def any_revoked(self, *keys: str) -> bool:
        try:
            with self._engine.connect() as connection:
                found = connection.execute(
                    sa.select(self._table.c.key)
                    .where(self._table.c.key.in_(keys), self._table.c.expires_at > utcnow())
                    .limit(1)
                ).first()
        except sa.exc.SQLAlchemyError as exc:
            raise StoreUnavailable(str(exc).splitlines()[0]) from exc
        return found is not None

    def purge(self) -> int:
        with self._engine.begin() as connection:
            result = connection.execute(
                self._table.delete().where(self._table.c.expires_at <= utcnow())
            )
        return int(result.rowcount or 0)


def make_store(app: Flask, engine: sa.Engine, redis: Redis | None) -> RevocationStore:
    """The store that ``TOKEN_BLOCKLIST`` names."""
    kind = get_settings(app).token_store
    if kind == "redis":
        if redis is None:
            raise RuntimeError("TOKEN_BLOCKLIST=redis needs REDIS_URL.")
        return RedisStore(redis)
    if kind == "database":
        return DatabaseStore(engine)
    log.warning(
        "TOKEN_BLOCKLIST=memory keeps revoked tokens in this process only: "
        "other workers and restarts will not see them."
    )
    return MemoryStore()


def get_store() -> RevocationStore:
    """The app's revocation store."""
    store: RevocationStore = current_app.extensions[EXTENSION_KEY]
    return store
