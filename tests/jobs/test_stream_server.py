"""Event streams on a real gunicorn: they hold no request thread, a per-user cap across
processes, and on SIGTERM a final event for every stream, an answer for every request."""

from __future__ import annotations

import json
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.support.api import JOBS, POSTS, PROBLEM
from tests.support.servers import Gunicorn, stop_all
from tests.support.streams import RawStream, raw_streams, server_env, sign_up_and_queue, with_port

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(60)]
FIRST_EVENT = b"event: job"
#: A bound, not an expectation (a loaded CI machine is slow); starved requests never answer.
WAIT = 15.0


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file, copied by every test here."""
    directory = tmp_path_factory.mktemp("streams-template")
    server_env(directory, "redis://127.0.0.1:1/0")
    return directory / "app.db"


def test_open_streams_leave_the_request_threads_free(
    jobs_redis_url: str, template: Path, tmp_path: Path
) -> None:
    # One worker with two threads; five times as many streams as threads.
    env = server_env(tmp_path, jobs_redis_url, template, GUNICORN_THREADS="2")
    with Gunicorn(env, tmp_path / "gunicorn.log") as server:
        watching = sign_up_and_queue(server)
        with raw_streams(server, watching, 10) as streams:
            for number, stream in enumerate(streams, 1):
                assert stream.read_until(FIRST_EVENT, timeout=WAIT), (
                    f"stream {number} of 10 got no event: {stream.data!r}\n{server.log_tail()}"
                )
                assert stream.status == 200
            # An open-ended body: chunked, no length, the connection closed after the last chunk.
            head = streams[0].data.partition(b"\r\n\r\n")[0].lower()
            assert b"transfer-encoding: chunked" in head, head
            assert b"content-length" not in head and b"connection: close" in head, head
            # Every stream still open, ordinary requests are answered at once.
            assert not any(stream.closed for stream in streams)
            assert server.request("GET", "/healthz", timeout=WAIT).status == 200
            replies = server.burst("GET", POSTS, count=8, concurrency=4, timeout=WAIT)
            assert [reply.status for reply in replies] == [200] * 8
            assert server.request("GET", "/api/v1/users/me", token=watching.token).status == 200


def test_the_stream_cap_holds_across_two_servers(
    jobs_redis_url: str, template: Path, tmp_path: Path
) -> None:
    env = server_env(tmp_path, jobs_redis_url, template, EVENTS_MAX_STREAMS_PER_USER="2")
    first = Gunicorn(env, tmp_path / "first.log")
    second = Gunicorn(with_port(env, tmp_path), tmp_path / "second.log")
    try:
        for server in (first, second):
            server.start()
        for server in (first, second):
            server.wait_ready()
        watching = sign_up_and_queue(first)
        events = f"{JOBS}/{watching.job_id}/events"
        on_first, on_second = RawStream(first, watching), RawStream(second, watching)
        try:
            for stream in (on_first, on_second):
                assert stream.read_until(FIRST_EVENT, timeout=WAIT), stream.data
            # Two open, one on each server: a third is refused by either.
            for server in (first, second):
                third = server.request("GET", events, token=watching.token, timeout=WAIT)
                assert third.status == 429, third.body
                assert third.headers["content-type"] == PROBLEM
                assert int(third.headers["retry-after"]) > 0
                problem = third.json()
                assert problem["status"] == 429 and "2 event streams" in problem["detail"]
            # A client that leaves gives its slot back at once.
            on_first.close()
            deadline = time.monotonic() + WAIT
            while True:
                again = RawStream(second, watching)
                again.read_until(b"\r\n\r\n", timeout=WAIT)
                if again.status == 200 or time.monotonic() > deadline:
                    break
                again.close()
                time.sleep(0.1)
            assert again.status == 200, again.data
            assert again.read_until(FIRST_EVENT, timeout=WAIT)
            again.close()
        finally:
            on_first.close()
            on_second.close()
    finally:
        stop_all([first, second])


def test_sigterm_gives_streams_a_final_event_within_1_s_and_requests_their_answer(
    jobs_redis_url: str, template: Path, tmp_path: Path
) -> None:
    # Threads enough for every stream even without the handoff: this is about the stop.
    env = server_env(tmp_path, jobs_redis_url, template, GUNICORN_THREADS="8")
    server = Gunicorn(env, tmp_path / "gunicorn.log")
    with server:
        watching = sign_up_and_queue(server)
        with raw_streams(server, watching, 6) as streams:
            for stream in streams:
                assert stream.read_until(FIRST_EVENT, timeout=WAIT), stream.data
            # A request in flight: its body half sent when the signal comes.
            body = json.dumps({"title": "In flight", "body": "Sent across the stop."}).encode()
            posting = socket.create_connection(server.address, timeout=WAIT)
            posting.sendall(
                f"POST {POSTS} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {watching.token}"
                f"\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Connection: close\r\n\r\n".encode()
                + body[:10]
            )
            time.sleep(0.5)  # the request is being read by a thread
            assert server.process is not None
            signalled = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            for number, stream in enumerate(streams, 1):
                ended = stream.read_to_end(timeout=max(0.0, signalled + 1.0 - time.monotonic()))
                assert ended, f"stream {number} still open 1 s after SIGTERM: {stream.data!r}"
                assert b"event: shutdown" in stream.data, stream.data
                # A complete body: the last event whole, then the last chunk.
                assert stream.data.endswith(b"\n\n\r\n0\r\n\r\n"), stream.data
            # The request in flight still finishes.
            posting.sendall(body[10:])
            answer = b""
            while chunk := posting.recv(65536):
                answer += chunk
            posting.close()
            assert answer.startswith(b"HTTP/1.1 201"), answer
            assert server.process.wait(timeout=10) == 0
