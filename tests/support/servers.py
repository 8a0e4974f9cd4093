"""A real gunicorn (``gunicorn.conf.py``) on loopback for end-to-end tests.

Every request goes over a fresh TCP connection (``Connection: close``) with its own
``X-Request-ID``, and the access log is rewritten to name the worker pid that served each request
id, so a test can prove *which* worker processes answered.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from flaskyard.config import ALIASES, setting_names

ROOT = Path(__file__).resolve().parents[2]
#: Bounds, not expectations: a CI machine under load can take this long.
READY_TIMEOUT_SECONDS = 60.0
STOP_TIMEOUT_SECONDS = 15.0
ACCESS_MARK = "flaskyard-access"
# gunicorn renders %(p)s as "<pid>"; %({x-request-id}i)s is the request header we send.
ACCESS_FORMAT = f"{ACCESS_MARK} pid=%(p)s status=%(s)s rid=%({{x-request-id}}i)s"
# Found anywhere in a line: gunicorn.conf.py may wrap access lines in JSON (production).
_ACCESS_ENTRY = re.compile(rf"{ACCESS_MARK} pid=<(\d+)> status=(\d+) rid=([0-9a-f]{{32}})")
#: The one test-only gunicorn option: an access log that names the worker of each request.
CMD_ARGS = f'--access-logformat "{ACCESS_FORMAT}"'


def clean_environ(overrides: Mapping[str, str]) -> dict[str, str]:
    """``os.environ`` without any Flaskyard setting (or ``*_FILE``/alias), plus ``overrides``."""
    names = set(setting_names())
    for aliases in ALIASES.values():
        names.update(aliases)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in names and key.removesuffix("_FILE") not in names
    }
    env.pop("GUNICORN_CMD_ARGS", None)
    env.update(overrides)
    return env


def flask_cli(env: Mapping[str, str], *args: str, timeout: float = 60) -> str:
    """Run ``flask --app flaskyard ARGS`` in ``env``; return its output, failing loudly."""
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "flaskyard", *args],
        cwd=ROOT,
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"flask {' '.join(args)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
        )
    return result.stdout


@dataclass
class Reply:
    """One HTTP response, with the request id it was sent under."""

    status: int
    headers: dict[str, str]
    body: bytes
    request_id: str

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Gunicorn:
    """``python -m gunicorn -c gunicorn.conf.py`` with ``env``; stdout/stderr go to ``log_path``."""

    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)
    _log: IO[bytes] | None = field(default=None, init=False)

    @property
    def address(self) -> tuple[str, int]:
        host, _, port = self.env["GUNICORN_BIND"].rpartition(":")
        return host, int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> None:
        """Launch the master (non-blocking); call ``wait_ready`` next."""
        assert self.process is None, "already running"
        env = dict(self.env)
        env["GUNICORN_CMD_ARGS"] = CMD_ARGS
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = READY_TIMEOUT_SECONDS) -> None:
        """Poll ``GET /healthz`` until it answers 200; raise with the log tail otherwise."""
        assert self.process is not None, "not started"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"gunicorn exited {self.process.returncode} while starting:\n{self.log_tail()}"
                )
            try:
                if self.request("GET", "/healthz", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"gunicorn not ready within {timeout:g} s:\n{self.log_tail()}")

    def signal_stop(self) -> None:
        """Send SIGTERM (graceful stop) without waiting."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = STOP_TIMEOUT_SECONDS) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL; return the exit status."""
        process, self.process = self.process, None
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            code = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            # The master did not finish; take down its workers too, so none outlives the test.
            workers = children(process.pid)
            process.kill()
            code = process.wait()
            for pid in workers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def restart(self) -> None:
        """Stop the whole server and start it again with the same environment."""
        self.stop()
        self.start()
        self.wait_ready()

    def worker_pids(self) -> set[int]:
        """The master's current worker processes (empty where /proc cannot tell)."""
        return set(children(self.process.pid)) if self.process is not None else set()

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 40) -> str:
        """The last ``lines`` lines of the log that are not access lines."""
        kept = [line for line in self.log_text().splitlines() if ACCESS_MARK not in line]
        return "\n".join(kept[-lines:])

    # -- requests ---------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        token: str | None = None,
        timeout: float = 45,
    ) -> Reply:
        """One request over a new TCP connection that is closed afterwards (no keep-alive)."""
        request_id = uuid.uuid4().hex
        headers = {"Connection": "close", "X-Request-ID": request_id, "Accept": "application/json"}
        body = None
        if json_body is not None:
            body = json.dumps(json_body).encode()
            headers["Content-Type"] = "application/json"
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        host, port = self.address
        connection = http.client.HTTPConnection(host, port, timeout=timeout)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            reply_headers = {key.lower(): value for key, value in response.getheaders()}
        finally:
            connection.close()
        return Reply(response.status, reply_headers, data, request_id)

    def burst(
        self, method: str, path: str, *, count: int = 30, concurrency: int = 6, **kwargs: Any
    ) -> list[Reply]:
        """``count`` requests, each on its own connection, ``concurrency`` at a time.

        Several connections in flight at once make the kernel hand them to different workers;
        strictly one-after-another connections tend to be accepted by the same idle worker.
        """
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = [pool.submit(self.request, method, path, **kwargs) for _ in range(count)]
            return [future.result() for future in futures]

    def served_by(self, replies: Iterable[Reply], timeout: float = 10) -> dict[str, int]:
        """Request id -> pid of the worker that served it, read from the access log."""
        wanted = {reply.request_id for reply in replies}
        deadline = time.monotonic() + timeout
        while True:
            found = {
                rid: int(pid)
                for pid, _status, rid in _ACCESS_ENTRY.findall(self.log_text())
                if rid in wanted
            }
            if len(found) == len(wanted) or time.monotonic() > deadline:
                missing = wanted - found.keys()
                if missing:
                    raise AssertionError(
                        f"{len(missing)} requests missing from the access log {self.log_path}"
                    )
                return found
            time.sleep(0.05)

    def __enter__(self) -> Gunicorn:
        self.start()
        try:
            self.wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stop_all(servers: Sequence[Gunicorn]) -> None:
    """Stop several servers at once (their graceful shutdowns overlap)."""
    for server in servers:
        server.signal_stop()
    for server in servers:
        server.stop()


def restart_all(servers: Sequence[Gunicorn]) -> None:
    """Stop several servers, then start them all again with the same environments."""
    stop_all(servers)
    for server in servers:
        server.start()
    for server in servers:
        server.wait_ready()


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (Linux), across all of its threads."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found.extend(int(part) for part in (task / "children").read_text().split())
        except OSError:
            continue
    return found
