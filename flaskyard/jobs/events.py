"""Server-Sent Events for job progress, with one Redis subscription per web process.

A hub thread holds the process's single pattern subscription. When a job changes, the hub
reads its state once and hands the same snapshot to every stream watching that job, so N
watchers cost one subscription and one read, not N. The hub also re-reads each watched job
every POLL_SECONDS, because a killed worker changes a job without publishing anything.
The hub only reads (:func:`flaskyard.jobs.services.view`); it never writes a job's row.

Each open stream holds a lease (:mod:`flaskyard.core.leases`): at most
``EVENTS_MAX_STREAMS_PER_USER`` per user across every process, renewed by the hub thread, so a
crashed process frees its slots within ``LEASE_SECONDS``. Where the server offers it
(:mod:`flaskyard.core.handoff`), a stream leaves its request thread after its first event and
lives on the process's stream loop until the job ends, the client leaves or the server stops;
on stop it gets a ``shutdown`` event first.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import queue
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any, Protocol

from flask import Flask, current_app
from redis import Redis
from redis.exceptions import RedisError

from flaskyard.broker import get_redis
from flaskyard.core.handoff import Connection, StreamLoop
from flaskyard.core.leases import Leases
from flaskyard.core.problems import Message
from flaskyard.extensions import db
from flaskyard.jobs.models import TERMINAL, Job
from flaskyard.jobs.runtime import EVENTS_CHANNEL
from flaskyard.jobs.schemas import JobOut
from flaskyard.jobs.services import view
from flaskyard.metrics import OPEN_STREAMS

EXTENSION_KEY = "flaskyard.job_events"
HEARTBEAT_SECONDS = 15.0
POLL_SECONDS = 2.0
#: A stream's lease on its user's slot lasts this long unless renewed (every third of it).
LEASE_SECONDS = 30.0
LEASE_PREFIX = "flaskyard:streams:"
#: A client that takes no bytes for this long is dropped.
SEND_TIMEOUT_SECONDS = 30.0
INBOX_SIZE = 100
RETRY = "retry: 3000\n\n"
#: A stream's last words when the server stops: come back soon (to another worker).
SHUTDOWN = (
    "retry: 1000\n\nevent: shutdown\n"
    'data: {"detail":"The server is stopping; reconnect to follow the job."}\n\n'
)
log = logging.getLogger(__name__)


class Inbox(Protocol):
    """Where the hub puts encoded snapshots for one watcher (``queue.Full`` may be raised)."""

    def put_nowait(self, item: str, /) -> None:
        """Take ``item`` without waiting."""


class TooManyStreams(Exception):
    """The user already has as many streams open as one user may."""


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


class _LoopInbox:
    """A watcher's inbox on the stream loop; when full, the oldest state makes room."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self._loop = loop
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=INBOX_SIZE)

    def put_nowait(self, item: str | None, /) -> None:
        """Hand ``item`` to the loop (any thread); None says the client left."""
        if self._loop is None:
            return
        try:
            self._loop.call_soon_threadsafe(self._put, item)
        except RuntimeError:
            pass  # the loop is gone: the process is exiting

    def _put(self, item: str | None) -> None:
        if self.queue.full():
            self.queue.get_nowait()
        self.queue.put_nowait(item)


class JobStream:
    """One open event stream of one job: its watch, its lease and its frames."""

    def __init__(
        self,
        hub: Hub,
        job_id: uuid.UUID,
        lease: str,
        last_event_id: str | None,
        loop: StreamLoop | None,
    ) -> None:
        self._hub = hub
        self._job_id = job_id
        self._lease = lease
        self._sent = last_event_id
        self._loop = loop
        # Where the hub's snapshots go: a queue this thread reads, or the stream loop's.
        self._queue: queue.Queue[str] = queue.Queue(maxsize=INBOX_SIZE)
        self._loop_inbox = _LoopInbox(loop.loop() if loop is not None else None)
        self._inbox: Inbox = self._queue if loop is None else self._loop_inbox
        hub.watch(job_id, self._inbox)
        self._closing = threading.Lock()
        self._closed = False
        self._sending = False
        self._taken = False
        self.ended = False
        OPEN_STREAMS.inc()

    # -- what is sent --------------------------------------------------------------------------

    def _event(self, current: str | None) -> str | None:
        """The frame for state ``current`` (None when already sent); notes the stream's end."""
        if current is None:  # the job is gone
            self.ended = True
            return None
        if json.loads(current)["status"] in TERMINAL:
            self.ended = True
        ident = event_id(current)
        if ident == self._sent:
            return None
        self._sent = ident
        return f"id: {ident}\nevent: job\ndata: {current}\n\n"

    def opening(self) -> list[str]:
        """The first frames, written by the request thread: the retry hint and the state now."""
        first = self._event(self._hub.snapshot(self._job_id))
        return [RETRY] if first is None else [RETRY, first]

    def frames(self) -> Iterator[str]:
        """The whole stream from the request thread (where nothing was offered)."""
        try:
            yield from self.opening()
            while not self.ended:
                try:
                    frame = self._event(self._queue.get(timeout=HEARTBEAT_SECONDS))
                except queue.Empty:
                    frame = ": keep-alive\n\n"
                if frame is not None:
                    yield frame
        finally:
            self.close()

    # -- on the stream loop --------------------------------------------------------------------

    def take(self, connection: Connection) -> None:
        """Continue on the stream loop (the handoff's taker)."""
        if self._loop is None:
            raise RuntimeError("This stream was opened to be served by its request thread.")
        self._taken = True
        self._loop.start(lambda: self._serve(connection), lambda: self._last_words(connection))

    async def _send(self, connection: Connection, data: bytes) -> None:
        loop = asyncio.get_running_loop()
        self._sending = True
        try:
            await asyncio.wait_for(
                loop.sock_sendall(connection.sock, connection.frame(data)), SEND_TIMEOUT_SECONDS
            )
        finally:
            self._sending = False

    async def _serve(self, connection: Connection) -> None:
        inbox = self._loop_inbox.queue
        loop = asyncio.get_running_loop()
        loop.add_reader(connection.fd, self._on_readable, connection)
        try:
            while not self.ended:
                try:
                    current = await asyncio.wait_for(inbox.get(), HEARTBEAT_SECONDS)
                except TimeoutError:
                    await self._send(connection, b": keep-alive\n\n")
                    continue
                if current is None:
                    return  # the client left
                frame = self._event(current)
                if frame is not None:
                    await self._send(connection, frame.encode())
            await self._send(connection, connection.last_frame())
        except OSError:
            pass  # the client left, or took nothing for SEND_TIMEOUT_SECONDS
        finally:
            loop.remove_reader(connection.fd)
            connection.sock.close()
            self.close()

    def _on_readable(self, connection: Connection) -> None:
        # A client sends nothing after its request; readable means it closed (or broke) it.
        try:
            if connection.sock.recv(4096):
                return
        except BlockingIOError:
            return
        except OSError:
            pass
        asyncio.get_running_loop().remove_reader(connection.fd)
        self._loop_inbox.put_nowait(None)

    def _last_words(self, connection: Connection) -> None:
        """The server stops: the shutdown event and the end, written without waiting."""
        if connection.sock.fileno() == -1:
            return
        if not self._sending:  # a half-written frame must not be interleaved
            try:
                connection.sock.send(connection.frame(SHUTDOWN.encode()) + connection.last_frame())
            except OSError:
                pass
        try:
            connection.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # -- the end -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop watching, give the lease back, count the stream closed (once)."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
        self._hub.unwatch(self._job_id, self._inbox)
        self._hub.leases.release(self._lease)
        OPEN_STREAMS.dec()

    def close_unless_taken(self) -> None:
        """Close unless the stream loop has it (the response's close)."""
        if not self._taken:
            self.close()


def open_stream(
    hub: Hub,
    job_id: uuid.UUID,
    *,
    user: str,
    limit: int,
    last_event_id: str | None,
    loop: StreamLoop | None,
) -> JobStream:
    """Take one of ``user``'s stream slots and start watching; TooManyStreams when none is left."""
    lease = hub.leases.acquire(user, limit)
    if lease is None:
        raise TooManyStreams(
            Message("You already have %(limit)s event streams open; close one first.", limit=limit)
        )
    return JobStream(hub, job_id, lease, last_event_id, loop)
