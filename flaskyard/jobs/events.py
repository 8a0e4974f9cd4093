"""The job event hub: one Redis subscription per web process, fanned out to every watcher.

A hub thread holds the process's single pattern subscription. When a job changes, the hub
reads its state once and hands the same snapshot to every stream watching that job, so N
watchers cost one subscription and one read, not N. The hub also re-reads each watched job
every POLL_SECONDS, because a killed worker changes a job without publishing anything.
The hub only reads (:func:`flaskyard.jobs.views.view`); it never writes a job's row.
It also holds the leases of the open streams (:mod:`flaskyard.jobs.streams`), and renews them.
"""

from __future__ import annotations

import hashlib
import json
import logging
import queue
import threading
import time
import uuid
from typing import Any, Protocol

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError

from flaskyard.broker import get_redis
from flaskyard.core.leases import Leases
from flaskyard.extensions import db
from flaskyard.jobs.models import Job
from flaskyard.jobs.runtime import EVENTS_CHANNEL
from flaskyard.jobs.schemas import JobOut
from flaskyard.jobs.views import view

EXTENSION_KEY = "flaskyard.job_events"
POLL_SECONDS = 2.0
#: A stream's lease on its user's slot lasts this long unless renewed (every third of it).
LEASE_SECONDS = 30.0
LEASE_PREFIX = "flaskyard:streams:"
INBOX_SIZE = 100
log = logging.getLogger(__name__)


class Inbox(Protocol):
    """Where the hub puts encoded snapshots for one watcher (``queue.Full`` may be raised)."""

    def put_nowait(self, item: str, /) -> None:
        """Take ``item`` without waiting."""


def _encode(snapshot: dict[str, Any]) -> str:
    return json.dumps(JobOut().dump(snapshot), separators=(",", ":"), sort_keys=True)


def event_id(data: str) -> str:
    """A short fingerprint of one state: resuming with it skips a state already seen."""
    return hashlib.sha256(data.encode()).hexdigest()[:16]


class Hub:
    """One per process: the shared subscription, the periodic re-read, the fan-out."""

    def __init__(self, app: Flask, redis: Redis) -> None:
        self._app = app
        self._redis = redis
        self._lock = threading.Lock()
        self._watchers: dict[uuid.UUID, set[Inbox]] = {}
        self._last: dict[uuid.UUID, str] = {}  # the snapshot last handed out, per job
        self._thread: threading.Thread | None = None
        self.leases = Leases(redis, LEASE_PREFIX, LEASE_SECONDS)
        self.reads = 0  # how many state reads the hub did (watchers never read themselves)

    def watch(self, job_id: uuid.UUID, inbox: Inbox | None = None) -> Inbox:
        """Register a watcher; ``inbox`` (by default a new queue) receives encoded snapshots."""
        if inbox is None:
            inbox = queue.Queue(maxsize=INBOX_SIZE)
        with self._lock:
            self._watchers.setdefault(job_id, set()).add(inbox)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="job-events", daemon=True)
                self._thread.start()
        return inbox

    def unwatch(self, job_id: uuid.UUID, inbox: Inbox) -> None:
        """Forget a watcher."""
        with self._lock:
            watchers = self._watchers.get(job_id)
            if watchers is not None:
                watchers.discard(inbox)
                if not watchers:
                    del self._watchers[job_id]
                    self._last.pop(job_id, None)

    def snapshot(self, job_id: uuid.UUID) -> str | None:
        """The job's current state, encoded (one database and Redis read)."""
        self.reads += 1
        with self._app.app_context():
            try:
                row = db.session.get(Job, job_id)
                return None if row is None else _encode(view(session=db.session, row=row))
            finally:
                db.session.remove()

    def _publish(self, job_id: uuid.UUID) -> None:
        with self._lock:
            if job_id not in self._watchers:
                return
        data = self.snapshot(job_id)
        with self._lock:
            # Watchers are listed after the read: one that registered later read the state
            # itself, after this read. So a state already handed out reached every watcher,
            # and the periodic re-read of an unchanged job sends nothing.
            inboxes = list(self._watchers.get(job_id, ()))
            if data is None or not inboxes or self._last.get(job_id) == data:
                return
            self._last[job_id] = data
        for inbox in inboxes:
            try:
                inbox.put_nowait(data)
            except queue.Full:
                pass  # a stalled client; it will get the newest state on the next change

    def _run(self) -> None:
        pubsub = self._redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
        last_poll = last_renewal = time.monotonic()
        try:
            pubsub.psubscribe(f"{EVENTS_CHANNEL}*")
            while True:
                with self._lock:
                    if not self._watchers:
                        self._thread = None
                        return
                try:
                    message = pubsub.get_message(timeout=0.5)
                except RedisError:
                    log.warning("job event subscription lost; retrying", exc_info=True)
                    time.sleep(1)
                    pubsub = self._redis.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
                    pubsub.psubscribe(f"{EVENTS_CHANNEL}*")
                    continue
                if message and message.get("type") == "pmessage":
                    channel = message["channel"]
                    raw = channel.decode() if isinstance(channel, bytes) else str(channel)
                    try:
                        self._publish(uuid.UUID(raw.removeprefix(EVENTS_CHANNEL)))
                    except ValueError:
                        continue
                if time.monotonic() - last_poll >= POLL_SECONDS:
                    last_poll = time.monotonic()
                    with self._lock:
                        watched = list(self._watchers)
                    for job_id in watched:
                        self._publish(job_id)
                if time.monotonic() - last_renewal >= self.leases.seconds / 3:
                    last_renewal = time.monotonic()
                    try:
                        self.leases.renew()
                    except RedisError:
                        log.warning("could not renew the event streams' leases", exc_info=True)
        except Exception:  # the thread must never die silently
            log.exception("job event hub stopped")
            with self._lock:
                self._thread = None
        finally:
            pubsub.close()


def get_hub() -> Hub | None:
    """This process's hub (made on first use), or None without Redis."""
    hub: Hub | None = current_app.extensions.get(EXTENSION_KEY)
    if hub is None:
        redis = get_redis()
        if redis is None:
            return None
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        hub = current_app.extensions.setdefault(EXTENSION_KEY, Hub(app, redis))
    return hub
