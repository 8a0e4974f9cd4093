"""gunicorn's threaded worker, plus handing long streams to one event loop (``gunicorn.conf.py``).

Ordinary requests run exactly as in gunicorn's ``gthread`` worker. A response that takes the
:class:`~flaskyard.core.handoff.Handoff` (the job event stream) is written by its request
thread up to its first bytes; then its socket leaves gunicorn for the process's stream loop
and the thread serves the next request. So open streams cost no request thread: a few hundred
of them leave ``workers × threads`` for everyone else.

On SIGTERM (stop, or SIGHUP's replacement of workers) and on the ``max_requests`` recycle, every
handed-off stream gets its final event and is closed at once; the worker then waits at most
:data:`STREAMS_CLOSE_SECONDS` for them before it exits.
"""

from __future__ import annotations

import resource
import socket
from collections.abc import Callable, Iterable
from typing import Any

from gunicorn.http.wsgi import Response
from gunicorn.workers.gthread import ThreadWorker

from flaskyard.core.handoff import (
    ENVIRON_KEY,
    Connection,
    Handoff,
    close_streams,
    wait_streams_closed,
)

#: How long a stopping worker waits for its streams' last words to go out.
STREAMS_CLOSE_SECONDS = 1.0

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class HandoffMiddleware:
    """Offers the handoff on plain HTTP/1.x connections and carries it out."""

    def __init__(self, app: WSGIApp) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        """Call the app; when it took the offer, write its first bytes and hand the socket on."""
        # gunicorn's start_response is a method of the Response that owns the socket; TLS and
        # HTTP/2 connections (other types) are served by their thread as before.
        response: Any = getattr(start_response, "__self__", None)
        sock = environ.get("gunicorn.socket")
        if type(response) is not Response or type(sock) is not socket.socket:
            return self.app(environ, start_response)
        handoff = Handoff()
        environ[ENVIRON_KEY] = handoff
        body = self.app(environ, start_response)
        if handoff.taker is None:
            return body
        try:
            response.force_close()  # the stream ends with the connection ("Connection: close")
            for chunk in body:
                response.write(chunk)
            # From here on the stream writes its own chunks, the last one included, and the
            # socket leaves gunicorn (detach: gunicorn's close no longer reaches it).
            chunked = bool(response.chunked)
            response.chunked = False
            handoff.taker(Connection(socket.socket(fileno=sock.detach()), chunked=chunked))
        finally:
            close = getattr(body, "close", None)
            if close is not None:
                close()
        return []


def _raise_open_files_limit() -> None:
    # Every open stream is a socket: allow as many as the hard limit lets this process have.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            pass


class HandoffWorker(ThreadWorker):  # type: ignore[misc]  # gunicorn is untyped
    """``gthread`` whose long streams leave the thread pool (see the module docstring)."""

    def init_process(self) -> None:
        """Raise the open files limit, then start as gthread does."""
        _raise_open_files_limit()
        super().init_process()

    def load_wsgi(self) -> None:
        """Load the app and wrap it in the handoff."""
        super().load_wsgi()
        app: WSGIApp = getattr(self, "wsgi")  # noqa: B009 - set by gunicorn, untyped
        self.wsgi = HandoffMiddleware(app)

    def handle_exit(self, sig: int, frame: Any) -> None:
        """SIGTERM: stop as gthread does, and close every stream now."""
        super().handle_exit(sig, frame)
        close_streams()

    def handle_quit(self, sig: int, frame: Any) -> None:
        """SIGINT/SIGQUIT (quick stop): the streams still get their last words."""
        close_streams()
        wait_streams_closed(STREAMS_CLOSE_SECONDS)
        super().handle_quit(sig, frame)

    def run(self) -> None:
        """Serve until told to stop; then close the streams (also after ``max_requests``)."""
        try:
            super().run()
        finally:
            close_streams()
            if not wait_streams_closed(STREAMS_CLOSE_SECONDS):
                self.log.warning("event streams still open after %ss", STREAMS_CLOSE_SECONDS)

    def finish_request(self, conn: Any, fs: Any) -> None:
        """A handed-off connection is no longer gunicorn's to keep alive or close."""
        if conn.sock.fileno() == -1:
            self.nr_conns -= 1
            return
        super().finish_request(conn, fs)
