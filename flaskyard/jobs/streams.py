"""One open Server-Sent Events stream of one job, fed by the process's hub (:mod:`.events`).

Each open stream holds a lease (:mod:`flaskyard.core.leases`): at most
``EVENTS_MAX_STREAMS_PER_USER`` per user across every process, renewed by the hub thread, so a
crashed process frees its slots within ``LEASE_SECONDS``. Where the server offers it
(:mod:`flaskyard.core.handoff`), a stream leaves its request thread after its first event and
lives on the process's stream loop until the job ends, the client leaves or the server stops;
on stop it gets a ``shutdown`` event first.
"""

from __future__ import annotations

import asyncio
import json
import queue
import socket
import threading
import uuid
from collections.abc import Iterator

from flaskyard.core.handoff import Connection, StreamLoop
from flaskyard.core.problems import Message
from flaskyard.jobs.events import INBOX_SIZE, Hub, Inbox, event_id
from flaskyard.jobs.models import TERMINAL
from flaskyard.metrics import OPEN_STREAMS

HEARTBEAT_SECONDS = 15.0
#: A client that takes no bytes for this long is dropped.
SEND_TIMEOUT_SECONDS = 30.0
RETRY = "retry: 3000\n\n"
#: A stream's last words when the server stops: come back soon (to another worker).
SHUTDOWN = (
    "retry: 1000\n\nevent: shutdown\n"
    'data: {"detail":"The server is stopping; reconnect to follow the job."}\n\n'
)


class TooManyStreams(Exception):
    """The user already has as many streams open as one user may."""


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
