"""A response cache for the public post list that is never stale.

Each process keeps rendered pages keyed by (page, per_page), stamped with the posts version:
a Redis counter that every write to posts increments. A request reads that one counter and
serves the rendered page only when the stamp matches, so a write on any worker is seen by
the next request on every worker. Without Redis (or if Redis fails) the cache steps aside.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict

from flask import current_app
from redis.exceptions import RedisError

from flaskyard.queue import get_redis

VERSION_KEY = "flaskyard:posts:version"
MAX_ENTRIES = 64
#: Upper bound on trusting an entry, in case a bump was lost while Redis was away.
MAX_AGE_SECONDS = 30.0
log = logging.getLogger(__name__)

EXTENSION_KEY = "flaskyard.posts_cache"


class _Pages:
    """This app's rendered pages (one per app, so apps never see each other's pages)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.entries: OrderedDict[tuple[int, int], tuple[bytes, bytes, float]] = OrderedDict()


def _store() -> _Pages:
    store: _Pages | None = current_app.extensions.get(EXTENSION_KEY)
    if store is None:
        store = current_app.extensions.setdefault(EXTENSION_KEY, _Pages())
    return store


def enabled() -> bool:
    """Whether the cache is on for this app (``POSTS_CACHE`` and a Redis)."""
    return bool(current_app.config.get("POSTS_CACHE")) and get_redis() is not None


def version() -> bytes | None:
    """The current posts version, or None when it cannot be read (then nothing is cached)."""
    redis = get_redis()
    if redis is None:
        return None
    try:
        value: bytes | None = redis.get(VERSION_KEY)  # type: ignore[assignment]
    except RedisError:
        return None
    return value if value is not None else b"0"


def bump() -> None:
    """Invalidate every process's cached pages; call after any write to posts commits."""
    redis = get_redis()
    if redis is None:
        return
    try:
        redis.incr(VERSION_KEY)
    except RedisError:
        log.warning("could not bump the posts version; cached pages expire within 30 s")


def get(page: int, per_page: int, stamp: bytes) -> bytes | None:
    """The rendered page if it was rendered at version ``stamp`` and is not too old."""
    store = _store()
    with store.lock:
        entry = store.entries.get((page, per_page))
        if entry is None or entry[0] != stamp or time.monotonic() - entry[2] > MAX_AGE_SECONDS:
            return None
        store.entries.move_to_end((page, per_page))
        return entry[1]


def put(page: int, per_page: int, stamp: bytes, body: bytes) -> None:
    """Remember a rendered page at version ``stamp``."""
    store = _store()
    with store.lock:
        store.entries[(page, per_page)] = (stamp, body, time.monotonic())
        store.entries.move_to_end((page, per_page))
        while len(store.entries) > MAX_ENTRIES:
            store.entries.popitem(last=False)


def clear() -> None:
    """Forget every cached page of this app in this process."""
    store = _store()
    with store.lock:
        store.entries.clear()
