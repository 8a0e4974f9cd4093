"""Long responses that give their request thread back: the server's offer and the stream loop.

A request thread is the scarcest thing a threaded server has (gunicorn: workers × threads), and
an event stream would hold one for as long as it stays open. Where the server can do without
the thread (:mod:`flaskyard.boot.gthread`), it puts a :class:`Handoff` in the WSGI environ. A
view that takes it answers with the headers and the first bytes as usual; then the connection
moves to this process's :class:`StreamLoop`, one asyncio loop in one thread holding every such
connection, and the request thread is free for the next request. An open stream then costs a
socket, a task and a queue. Where nothing is offered (Flask's development server, the test
client, granian), the view streams from its thread as before.

On shutdown the server calls :func:`close_streams`: every stream gets its last words (an event
saying so) and its connection is closed, so clients reconnect elsewhere at once instead of
holding a stopping worker for its whole graceful timeout.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

#: Where the server puts its :class:`Handoff` in the WSGI environ.
ENVIRON_KEY = "flaskyard.handoff"
log = logging.getLogger(__name__)


class Connection:
    """A client connection a stream took over: a non-blocking socket and its body framing."""

    def __init__(self, sock: socket.socket, *, chunked: bool) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.fd = sock.fileno()
        self.chunked = chunked

    def frame(self, data: bytes) -> bytes:
        """``data`` as it goes on the wire (a chunk when the response is chunked)."""
        if not self.chunked or not data:
            return data
        return b"%x\r\n%s\r\n" % (len(data), data)

    def last_frame(self) -> bytes:
        """What ends the body (the empty chunk when chunked)."""
        return b"0\r\n\r\n" if self.chunked else b""


Taker = Callable[[Connection], None]


class Handoff:
    """The server's offer: the view that takes it gets the connection once its thread is done."""

    def __init__(self) -> None:
        self.taker: Taker | None = None

    def take(self, taker: Taker) -> None:
        """Ask for the connection: ``taker`` gets it after the response's first bytes."""
        self.taker = taker


def offered(environ: Mapping[str, Any]) -> Handoff | None:
    """The server's offer in this request, if it made one."""
    handoff = environ.get(ENVIRON_KEY)
    return handoff if isinstance(handoff, Handoff) else None


class StreamLoop:
    """One asyncio loop thread per process that serves every handed-off stream."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._streams: dict[asyncio.Task[None], Callable[[], None]] = {}
        self._pending = 0  # started, not yet finished (counted before the task exists)
        self._idle = threading.Event()
        self._idle.set()
        self._closing = False

    @property
    def closing(self) -> bool:
        """True once :meth:`close_all` was called: new streams are closed at once."""
        return self._closing

    def loop(self) -> asyncio.AbstractEventLoop:
        """The running loop (started on first use)."""
        with self._lock:
            if self._loop is None:
                ready = threading.Event()
                loop = asyncio.new_event_loop()
                thread = threading.Thread(
                    target=self._run, args=(loop, ready), name="stream-loop", daemon=True
                )
                thread.start()
                ready.wait()
                self._loop = loop
            return self._loop

    @staticmethod
    def _run(loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        loop.run_forever()

    def start(
        self, serve: Callable[[], Coroutine[Any, Any, None]], last_words: Callable[[], None]
    ) -> None:
        """Run ``serve()`` on the loop; on shutdown ``last_words()`` runs, then it is cancelled."""
        loop = self.loop()
        with self._lock:
            self._pending += 1
            self._idle.clear()
        loop.call_soon_threadsafe(self._spawn, serve, last_words)

    def _spawn(
        self, serve: Callable[[], Coroutine[Any, Any, None]], last_words: Callable[[], None]
    ) -> None:
        task = asyncio.get_running_loop().create_task(serve())
        self._streams[task] = last_words
        task.add_done_callback(self._finished)
        if self._closing:
            self._close(task, last_words)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._streams.pop(task, None)
        if not task.cancelled() and task.exception() is not None:
            log.error("event stream failed", exc_info=task.exception())
        with self._lock:
            self._pending -= 1
            if self._pending == 0:
                self._idle.set()

    @staticmethod
    def _close(task: asyncio.Task[None], last_words: Callable[[], None]) -> None:
        try:
            last_words()
        except Exception:  # one stream's failure must not keep the others open
            log.exception("closing an event stream failed")
        task.cancel()

    def _close_all(self) -> None:
        # Every stream's last words first (plain non-blocking writes), then the clean-ups.
        for task, last_words in list(self._streams.items()):
            self._close(task, last_words)

    def close_all(self) -> None:
        """Close every stream (from any thread, a signal handler included); returns at once."""
        self._closing = True
        with self._lock:
            loop = self._loop
        if loop is not None:
            loop.call_soon_threadsafe(self._close_all)

    def wait_closed(self, timeout: float) -> bool:
        """Wait until no stream is open (True), at most ``timeout`` seconds."""
        return self._idle.wait(timeout)

    @property
    def open_streams(self) -> int:
        """Streams started and not yet finished."""
        with self._lock:
            return self._pending


_STREAMS = StreamLoop()


def stream_loop() -> StreamLoop:
    """This process's stream loop."""
    return _STREAMS


def close_streams() -> None:
    """Close every handed-off stream of this process (the server is stopping)."""
    _STREAMS.close_all()


def wait_streams_closed(timeout: float) -> bool:
    """Wait at most ``timeout`` seconds until this process has no open stream."""
    return _STREAMS.wait_closed(timeout)
