"""Sentry: nothing loaded without SENTRY_DSN; with one, an unhandled error reaches the DSN.

Both run the app in a subprocess so the SDK's global client never leaks into other tests; the
"Sentry server" is a loopback HTTP server that records the envelopes it is sent.
"""

from __future__ import annotations

import gzip
import secrets
import subprocess
import sys
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.servers import ROOT, clean_environ

pytestmark = pytest.mark.slow

SCRIPT = """
import sys
from flaskyard import create_app

app = create_app({"DATABASE_URL": sys.argv[1], "INSTANCE_DIR": sys.argv[2]})
loaded = "sentry_sdk" in sys.modules
if len(sys.argv) > 3:
    def boom():
        raise RuntimeError("boom for the sentry test")
    app.add_url_rule("/boom", "boom", boom)
    status = app.test_client().get("/boom").status_code
    import sentry_sdk
    sentry_sdk.flush(timeout=10)
    print("status", status)
print("loaded", loaded)
"""


class _Collector(BaseHTTPRequestHandler):
    bodies: list[bytes] = []

    def do_POST(self) -> None:  # noqa: N802 - the http.server API
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        encoding = self.headers.get("Content-Encoding", "")
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        self.bodies.append(raw)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the API's name
        pass


@pytest.fixture
def sentry_server() -> Iterator[tuple[str, list[bytes]]]:
    """A loopback server posing as Sentry: (DSN, bodies received)."""
    _Collector.bodies = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    key = secrets.token_hex(16)
    yield f"http://{key}@127.0.0.1:{server.server_address[1]}/42", _Collector.bodies
    server.shutdown()
    server.server_close()


def _run(tmp_path: Path, env: dict[str, str], *extra: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT, f"sqlite:///{tmp_path / 'app.db'}", str(tmp_path), *extra],
        cwd=ROOT,
        # Development, not testing: Flask re-raises errors under TESTING, and Sentry sees those
        # only when the app handles them as it does in service.
        env=clean_environ({"APP_ENV": "development", **env}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_without_a_dsn_sentry_is_not_even_imported(tmp_path: Path) -> None:
    assert "loaded False" in _run(tmp_path, {})


def test_an_unhandled_error_is_reported_to_the_dsn(
    tmp_path: Path, sentry_server: tuple[str, list[bytes]]
) -> None:
    dsn, bodies = sentry_server
    out = _run(tmp_path, {"SENTRY_DSN": dsn}, "boom")
    assert "loaded True" in out
    assert "status 500" in out
    events = [body for body in bodies if b'"type":"event"' in body]
    assert events, bodies
    assert b"boom for the sentry test" in events[0]
    assert b"RuntimeError" in events[0]
