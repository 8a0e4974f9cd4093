"""A response cache for the public post list that is never stale.

Each process keeps rendered pages keyed by (page, per_page), stamped with the posts version:
a Redis counter that every write to posts increments. A request reads that one counter and
serves the rendered page only when the stamp matches, so a write on any worker is seen by
the next request on every worker. Without Redis (or if Redis fails) the cache steps aside.

The version is bumped in one place: a session hook notes a flush that touched a post (or an
upload it may show) and bumps once that transaction commits, whoever committed it (a route,
a job, a command); a rollback forgets the note.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, current_app
from redis.exceptions import RedisError

from flaskyard.broker import get_redis
from flaskyard.database import DbSession
from flaskyard.extensions import db
from flaskyard.posts.models import Post
from flaskyard.settings import current_settings
from flaskyard.uploads.models import Upload

VERSION_KEY = "flaskyard:posts:version"
MAX_ENTRIES = 64
#: Upper bound on trusting an entry, in case a bump was lost while Redis was away.
MAX_AGE_SECONDS = 30.0
log = logging.getLogger(__name__)

EXTENSION_KEY = "flaskyard.posts_cache"
#: ``session.info`` key marking a transaction that changed posts.
_CHANGED = "flaskyard.posts_changed"


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
    return current_settings().POSTS_CACHE and get_redis() is not None


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
    """Invalidate every process's cached pages (the commit hook calls this)."""
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


def mark_changed(session: DbSession) -> None:
    """Note that this transaction changed posts, so its commit bumps the version.

    Flushes of Post objects are noted by the hook itself; this is for writes the session
    cannot see, such as dropping every table or a bulk delete.
    """
    session.info[_CHANGED] = True


def _note_flush(session: so.Session, _context: Any) -> None:
    # Still the pre-flush view here: new, dirty and deleted objects. A post changed (its list
    # of attachments included), or an upload that already existed changed or went: a page
    # shows each attachment's thumbnail. A new upload is on no post yet.
    posts = any(isinstance(obj, Post) for obj in (*session.new, *session.dirty, *session.deleted))
    if posts or any(isinstance(obj, Upload) for obj in (*session.dirty, *session.deleted)):
        session.info[_CHANGED] = True


def _bump_after_commit(session: so.Session) -> None:
    if session.info.pop(_CHANGED, False):
        bump()


def _forget(session: so.Session, *_args: Any) -> None:
    session.info.pop(_CHANGED, None)


_HOOKS = (
    ("after_flush", _note_flush),
    ("after_commit", _bump_after_commit),
    ("after_rollback", _forget),
)


def init_app(app: Flask) -> None:
    """Hook the version bump onto the session (once per process: ``db`` is shared)."""
    for name, hook in _HOOKS:
        if not sa.event.contains(db.session, name, hook):
            sa.event.listen(db.session, name, hook)
