"""gunicorn SIGTERMed with plain requests in flight: every one of them is answered in full."""

from __future__ import annotations

import http.client
import json
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass

import sqlalchemy as sa

from tests.chaos.conftest import StackFactory, report

#: Requests whose bodies are still arriving when the server is told to stop.
SLOW_UPLOADS = 3
SLOW_POSTS = 3
#: How long each slow client takes to send its body: the signal lands half way.
BODY_SECONDS = 2.0
PIECES = 10
#: gunicorn's graceful_timeout is 30 s; these requests need far less.
STOP_SECONDS = 20.0


@dataclass
class Slow:
    """One request whose body is sent in pieces, with what came back."""

    path: str
    content_type: str
    body: bytes
    token: str
    status: int = 0
    answer: bytes = b""
    error: str = ""


def _send(address: tuple[str, int], slow: Slow, started: threading.Barrier) -> None:
    connection = http.client.HTTPConnection(*address, timeout=30)
    try:
        connection.putrequest("POST", slow.path)
        for name, value in (
            ("Content-Type", slow.content_type),
            ("Content-Length", str(len(slow.body))),
            ("Authorization", f"Bearer {slow.token}"),
            ("Connection", "close"),
        ):
            connection.putheader(name, value)
        connection.endheaders()
        size = -(-len(slow.body) // PIECES)
        for index in range(PIECES):
            connection.send(slow.body[index * size : (index + 1) * size])
            if index == 0:
                started.wait()
            time.sleep(BODY_SECONDS / PIECES)
        response = connection.getresponse()
        slow.status, slow.answer = response.status, response.read()
    except (OSError, http.client.HTTPException) as exc:
        slow.error = repr(exc)
    finally:
        connection.close()


def _multipart(filename: str, content: bytes) -> tuple[str, bytes]:
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="{filename}"\r\nContent-Type: text/plain\r\n\r\n'
        ).encode()
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return f"multipart/form-data; boundary={boundary}", body


def test_sigterm_lets_every_request_in_flight_finish(stack_factory: StackFactory) -> None:
    stack = stack_factory()
    token = stack.sign_in("carol")
    requests = []
    for n in range(SLOW_UPLOADS):
        content_type, body = _multipart(f"note-{n}.txt", f"note {n}\n".encode() * 2000)
        requests.append(Slow("/api/v1/uploads", content_type, body, token))
    for n in range(SLOW_POSTS):
        post = {"title": f"in flight {n} {uuid.uuid4().hex}", "body": "x" * 5000}
        requests.append(Slow("/api/v1/posts", "application/json", json.dumps(post).encode(), token))
    started = threading.Barrier(len(requests) + 1)
    threads = [
        threading.Thread(target=_send, args=(stack.web.address, slow, started), daemon=True)
        for slow in requests
    ]
    for thread in threads:
        thread.start()
    started.wait(timeout=10)  # every request's headers and first piece are in
    time.sleep(BODY_SECONDS / 2)
    process = stack.web.process
    assert process is not None
    stack.web.signal_stop()
    signaled = time.monotonic()
    code = process.wait(timeout=STOP_SECONDS)
    stopped = time.monotonic() - signaled
    for thread in threads:
        thread.join(timeout=5)

    outcomes = Counter(slow.status for slow in requests)
    report(
        f"web SIGTERM with {len(requests)} requests in flight ({SLOW_UPLOADS} uploads, "
        f"{SLOW_POSTS} posts, bodies still arriving): answered {dict(outcomes)}, "
        f"server stopped {stopped:.1f} s after the signal (exit {code})"
    )
    failures = [(s.path, s.status, s.error, s.answer[:200]) for s in requests if s.status != 201]
    assert not failures, (failures, stack.logs())
    assert code == 0, stack.logs()
    # What was answered 201 is stored.
    titles = {json.loads(s.body)["title"] for s in requests if s.path == "/api/v1/posts"}
    engine = sa.create_engine(stack.database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            stored = set(connection.execute(sa.text("SELECT title FROM posts")).scalars())
            uploads = connection.execute(sa.text("SELECT COUNT(*) FROM uploads")).scalar()
    finally:
        engine.dispose()
    assert titles <= stored
    assert uploads == SLOW_UPLOADS
