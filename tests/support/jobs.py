"""Jobs in tests: start and poll them, run workers in process or as ``flask worker``, read SSE."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis
from rq import Worker

from flaskyard.settings import get_settings
from flaskyard.worker import run_worker
from tests.support.api import JOBS
from tests.support.servers import ROOT, children, clean_environ

T = TypeVar("T")


# -- jobs -----------------------------------------------------------------------------------


def start_job(
    client: FlaskClient, headers: Mapping[str, str], type_: str = "demo", **params: Any
) -> dict[str, Any]:
    response = client.post(JOBS, json={"type": type_, "params": params}, headers=dict(headers))
    assert response.status_code == 202, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def get_job(client: FlaskClient, headers: Mapping[str, str], job_id: str) -> dict[str, Any]:
    response = client.get(f"{JOBS}/{job_id}", headers=dict(headers))
    assert response.status_code == 200, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def wait_for(
    probe: Callable[[], T | None], *, timeout: float, interval: float = 0.1, what: str = "condition"
) -> T:
    """Call ``probe`` until it returns something truthy; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}: {value!r}")
        time.sleep(interval)


def wait_status(
    client: FlaskClient,
    headers: Mapping[str, str],
    job_id: str,
    statuses: Sequence[str] = ("finished", "failed", "canceled"),
    timeout: float = 20,
) -> dict[str, Any]:
    """Poll the job until its status is one of ``statuses``."""
    last: dict[str, Any] = {}

    def probe() -> dict[str, Any] | None:
        nonlocal last
        last = get_job(client, headers, job_id)
        return last if last["status"] in statuses else None

    try:
        return wait_for(probe, timeout=timeout, interval=0.1, what=f"job {job_id} {statuses}")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last state {last}") from None


def run_inline_worker(app: APIFlask, queues: Sequence[str] = ("high", "default", "low")) -> bool:
    """``flaskyard.worker.run_worker`` in burst mode in this process, signal handlers restored."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        return run_worker(app, list(queues), burst=True)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


# -- worker subprocesses ----------------------------------------------------------------------


def worker_env(app: APIFlask, **extra: Any) -> dict[str, str]:
    """The environment of a ``flask worker`` using the DB, Redis and files of ``app``."""
    config, settings = app.config, get_settings(app)
    env = clean_environ(
        {
            "APP_ENV": "testing",
            "DATABASE_URL": config["SQLALCHEMY_DATABASE_URI"],
            "REDIS_URL": settings.REDIS_URL or "",
            "SECRET_KEY": config["SECRET_KEY"],
            "JWT_SECRET_KEY": config["JWT_SECRET_KEY"],
            "INSTANCE_DIR": app.instance_path,
            "UPLOAD_DIR": str(settings.upload_dir),
            "LOG_LEVEL": "INFO",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update({key: str(value) for key, value in extra.items()})
    return env


class WorkerProcesses:
    """``flask worker`` subprocesses started by one test; all are killed at its end."""

    def __init__(self, app: APIFlask, log_dir: Path) -> None:
        self.app = app
        self.log_dir = log_dir
        self.processes: list[tuple[subprocess.Popen[bytes], Path]] = []

    def start(self, *args: str, **env: Any) -> subprocess.Popen[bytes]:
        log_path = self.log_dir / f"worker-{len(self.processes)}.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "flaskyard", "worker", *args],
                cwd=ROOT,
                env=worker_env(self.app, **env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.processes.append((process, log_path))
        return process

    def log(self, process: subprocess.Popen[bytes]) -> str:
        for candidate, path in self.processes:
            if candidate is process:
                return path.read_text(errors="replace")
        return ""

    def logs(self) -> str:
        return "\n".join(
            f"--- worker {p.pid} ---\n{path.read_text(errors='replace')[-3000:]}"
            for p, path in self.processes
        )

    def wait_listening(self, redis: Redis, count: int, timeout: float = 30) -> None:
        """Until ``count`` RQ workers are registered (they have started and are polling)."""
        wait_for(
            lambda: len(Worker.all(connection=redis)) >= count,
            timeout=timeout,
            what=f"{count} workers to register\n{self.logs()}",
        )

    def kill(self, process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        """Signal ``process``; after a SIGKILL its children (scheduler, horse) die too."""
        orphans = children(process.pid)
        process.send_signal(sig)
        if sig == signal.SIGKILL:
            process.wait(timeout=10)
            for pid in orphans:
                _kill(pid)

    def stop_all(self) -> None:
        for process, _path in self.processes:
            if process.poll() is None:
                for pid in children(process.pid):
                    _kill(pid)
                _kill(process.pid)
                process.wait(timeout=10)


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


# -- Server-Sent Events -----------------------------------------------------------------------


def parse_sse(text: str) -> list[dict[str, Any]]:
    """Parse an SSE body into ``{"id", "event", "data", "comment"}`` blocks."""
    events: list[dict[str, Any]] = []
    for block in text.replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        event: dict[str, Any] = {}
        data_lines = []
        for line in block.split("\n"):
            if line.startswith(":"):
                event["comment"] = line[1:].strip()
            elif ":" in line:
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "data":
                    data_lines.append(value)
                else:
                    event[field] = value
        if data_lines:
            event["data"] = json.loads("\n".join(data_lines))
        events.append(event)
    return events


def job_events(blocks: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Only the ``job`` events of a parsed stream."""
    return [block for block in blocks if block.get("event") == "job"]


@contextmanager
def sse_stream(
    client: FlaskClient, headers: Mapping[str, str], job_id: str, **extra: str
) -> Iterator[Iterator[str]]:
    """The SSE response of ``job_id``, as an iterator of decoded chunks, closed at the end."""
    response = client.get(f"{JOBS}/{job_id}/events", headers={**headers, **extra}, buffered=False)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/event-stream"
    try:
        yield (chunk.decode() if isinstance(chunk, bytes) else chunk for chunk in response.response)
    finally:
        response.close()


class Watcher(threading.Thread):
    """Reads one job's SSE stream in a thread of its own (its own test client)."""

    def __init__(
        self, app: APIFlask, headers: Mapping[str, str], job_id: str, **extra: str
    ) -> None:
        super().__init__(daemon=True)
        self.app, self.headers, self.job_id, self.extra = app, dict(headers), job_id, extra
        self.text = ""
        self.first_event = threading.Event()
        self.ended = threading.Event()
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            with sse_stream(
                self.app.test_client(), self.headers, self.job_id, **self.extra
            ) as chunks:
                for chunk in chunks:
                    self.text += chunk
                    if "event: job" in self.text:
                        self.first_event.set()
                    if self.stop.is_set():
                        return
            self.ended.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the test through .error
            self.error = exc
        finally:
            self.first_event.set()

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return parse_sse(self.text)

    @property
    def jobs(self) -> list[dict[str, Any]]:
        return [block["data"] for block in job_events(self.blocks)]

    def finish(self, timeout: float = 20) -> None:
        self.join(timeout)
        assert not self.is_alive(), f"the stream did not end; got so far:\n{self.text}"
        if self.error is not None:
            raise self.error
