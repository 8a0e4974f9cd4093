"""The user behind a token, kept in process memory and checked against Redis on every request.

Each user has a *generation* in Redis: a random value under ``flaskyard:user:gen:<id>``. A
process keeps the user it loaded stamped with the generation it read before loading, and
reuses it only while Redis still holds that value. The generation is read in the same round
trip as the revocation lookup (``RedisStore.any_revoked_with``), so a signed-in request on a
warm process costs one Redis round trip and no database round trip at all.

Any committed change to a user (roles, active flag, password, token version, email,
deletion) deletes the generation, whoever made it (a route, a job, a command): a session hook
notes the users a flush touched and deletes their generations just before the commit (if Redis
cannot be told, the commit is refused) and again right after it (a request that read the row
in between cannot keep it). So a demotion or deactivation is seen by the very next request on
every process. A request that finds no generation writes a new one *before* reading the row,
so a change committed after that read always deletes a generation the reader depends on.

Only with ``TOKEN_BLOCKLIST=redis``; the memory and database stores load the user from the
database on every request, as they always did.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import Flask, current_app, has_app_context
from redis import Redis
from redis.exceptions import RedisError

from flaskyard.auth.revocation import EXTENSION_KEY as STORE_KEY
from flaskyard.auth.revocation import RedisStore, StoreUnavailable
from flaskyard.broker import get_redis
from flaskyard.database import DbSession
from flaskyard.extensions import db
from flaskyard.users.models import User
from flaskyard.users.services import UserSnapshot, load_snapshot

GENERATION_PREFIX = "flaskyard:user:gen:"
#: A generation nobody asked for in a day is dropped; the next request just writes a new one.
GENERATION_TTL_SECONDS = 24 * 3600
#: Users kept per process (the least recently used go first).
MAX_ENTRIES = 4096
#: Upper bound on trusting an entry, should the delete after a commit ever be lost.
MAX_AGE_SECONDS = 60.0
EXTENSION_KEY = "flaskyard.principals"
#: ``session.info`` keys: ids of users this transaction changed; "forget every user".
_CHANGED = "flaskyard.users_changed"
_ALL = "flaskyard.users_all_changed"
log = logging.getLogger(__name__)


def generation_key(user_id: uuid.UUID | str) -> str:
    """The Redis key holding ``user_id``'s generation."""
    return f"{GENERATION_PREFIX}{user_id}"


class _Entries:
    """This app's users in this process: id -> (generation, snapshot, loaded at)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.items: OrderedDict[uuid.UUID, tuple[bytes, UserSnapshot, float]] = OrderedDict()

    def get(self, user_id: uuid.UUID, generation: bytes) -> UserSnapshot | None:
        with self.lock:
            entry = self.items.get(user_id)
            if entry is None or entry[0] != generation:
                return None
            if time.monotonic() - entry[2] > MAX_AGE_SECONDS:
                del self.items[user_id]
                return None
            self.items.move_to_end(user_id)
            return entry[1]

    def put(self, user_id: uuid.UUID, generation: bytes, user: UserSnapshot) -> None:
        with self.lock:
            self.items[user_id] = (generation, user, time.monotonic())
            self.items.move_to_end(user_id)
            while len(self.items) > MAX_ENTRIES:
                self.items.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.items.clear()


def _redis_store() -> RedisStore | None:
    """The revocation store when it is Redis: the only case where users are kept."""
    store = current_app.extensions.get(STORE_KEY)
    return store if isinstance(store, RedisStore) else None


def enabled() -> bool:
    """Whether this app keeps signed-in users between requests (``TOKEN_BLOCKLIST=redis``)."""
    return _redis_store() is not None


def _entries() -> _Entries:
    entries: _Entries = current_app.extensions[EXTENSION_KEY]
    return entries


def _new_generation(redis: Redis, user_id: uuid.UUID) -> bytes | None:
    """Write a generation for ``user_id`` unless one appeared meanwhile; return the one in force."""
    key = generation_key(user_id)
    try:
        pipe = redis.pipeline(transaction=False)
        pipe.set(key, secrets.token_hex(16), nx=True, ex=GENERATION_TTL_SECONDS)
        pipe.get(key)
        _set, value = pipe.execute()
    except RedisError:
        return None
    return value if isinstance(value, bytes) else None


def load(user_id: uuid.UUID, generation: bytes | None) -> UserSnapshot | None:
    """The user ``user_id``: from this process's memory while ``generation`` matches, else read.

    ``generation`` is what Redis held for the user when the request's revocation lookup ran
    (None: no generation yet, or this app does not keep users).
    """
    redis = get_redis() if enabled() else None
    if redis is None:
        return load_snapshot(session=db.session, user_id=user_id)
    entries = _entries()
    if generation is None:
        # Written before the row is read: see the module docstring.
        generation = _new_generation(redis, user_id)
        if generation is None:
            return load_snapshot(session=db.session, user_id=user_id)
    else:
        cached = entries.get(user_id, generation)
        if cached is not None:
            return cached
    user = load_snapshot(session=db.session, user_id=user_id)
    if user is not None:
        entries.put(user_id, generation, user)
    return user


def mark_all_changed(session: DbSession) -> None:
    """Make this transaction's commit forget every user (for writes the session cannot see)."""
    session.info[_ALL] = True


def _touched_users(session: so.Session) -> set[uuid.UUID]:
    """Ids of the users the session holds as changed or deleted (new ones have no generation)."""
    return {
        obj.id
        for obj in (*session.dirty, *session.deleted)
        if isinstance(obj, User) and obj.id is not None
    }


def _changed_ids(session: so.Session) -> set[uuid.UUID]:
    return set(session.info.get(_CHANGED, ())) | _touched_users(session)


def _forget_everyone(redis: Redis) -> None:
    keys = list(redis.scan_iter(match=GENERATION_PREFIX + "*", count=1000))
    for start in range(0, len(keys), 500):
        redis.delete(*keys[start : start + 500])


def _delete_generations(ids: set[uuid.UUID], everyone: bool) -> None:
    """Delete the generations of ``ids`` (or all of them); raises RedisError."""
    redis = get_redis()
    if redis is None:
        return
    if everyone:
        _forget_everyone(redis)
        _entries().clear()
    elif ids:
        redis.delete(*(generation_key(user_id) for user_id in sorted(ids, key=str)))


def _active() -> bool:
    return has_app_context() and EXTENSION_KEY in current_app.extensions and enabled()


def _note_flush(session: so.Session, _context: Any) -> None:
    if not _active():
        return
    changed = _touched_users(session)
    if changed:
        session.info.setdefault(_CHANGED, set()).update(changed)


def _before_commit(session: so.Session) -> None:
    if not _active():
        return
    ids, everyone = _changed_ids(session), bool(session.info.get(_ALL))
    if not ids and not everyone:
        return
    try:
        _delete_generations(ids, everyone)
    except RedisError as exc:
        # Fail closed: a change that the other processes might not notice is not made.
        raise StoreUnavailable(f"Cannot tell other processes about a user change: {exc}") from exc
    session.info.setdefault(_CHANGED, set()).update(ids)


def _after_commit(session: so.Session) -> None:
    ids: set[uuid.UUID] = session.info.pop(_CHANGED, set())
    everyone = bool(session.info.pop(_ALL, False))
    if (not ids and not everyone) or not _active():
        return
    for attempt in (1, 2):
        try:
            _delete_generations(ids, everyone)
            return
        except RedisError:
            if attempt == 2:
                log.error(
                    "could not delete the generation of users %s after a commit; processes "
                    "may keep their old copy for up to %d s",
                    sorted(map(str, ids)),
                    int(MAX_AGE_SECONDS),
                    exc_info=True,
                )


def _after_rollback(session: so.Session, *_args: Any) -> None:
    session.info.pop(_CHANGED, None)
    session.info.pop(_ALL, None)


_HOOKS = (
    ("after_flush", _note_flush),
    ("before_commit", _before_commit),
    ("after_commit", _after_commit),
    ("after_rollback", _after_rollback),
)


def init_app(app: Flask) -> None:
    """Keep users in this app's memory, and hook the generation deletes onto the session."""
    app.extensions[EXTENSION_KEY] = _Entries()
    for name, hook in _HOOKS:
        if not sa.event.contains(db.session, name, hook):
            sa.event.listen(db.session, name, hook)
