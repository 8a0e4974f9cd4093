"""The image boots, migrates once, serves, works jobs, stops gracefully and keeps secrets out."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.client import HTTPConnection
from pathlib import Path

import jwt
import pytest
from redis import Redis

from flaskyard.devserver import free_port
from tests.containers.conftest import (
    REDIS_URL,
    Container,
    Containers,
    app_env,
    docker,
    http,
    migration_heads,
    run_demo_job,
    scalar,
    sign_up,
    start_demo_job,
    wait_ready,
    wait_until,
)
from tests.test_sentry import SCRIPT as SENTRY_SCRIPT
from tests.test_sentry import sentry_server

__all__ = ["sentry_server"]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


class TcpProxy:
    """A loopback TCP forwarder to 127.0.0.1:<target>, started late to play a late database."""

    def __init__(self, listen_port: int, target_port: int) -> None:
        self.listen_port, self.target_port = listen_port, target_port
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._stop = threading.Event()

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.listen_port))
        server.listen(16)
        server.settimeout(0.2)
        self._server = server
        self._spawn(self._accept)

    def _spawn(self, target: object, *args: object) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _accept(self) -> None:
        assert self._server is not None
        while not self._stop.is_set():
            try:
                client, _ = self._server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self._sockets += [client, upstream]
            self._spawn(self._pipe, client, upstream)
            self._spawn(self._pipe, upstream, client)

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        self._stop.set()
        for sock in [*self._sockets, *([self._server] if self._server else [])]:
            sock.close()


@pytest.fixture
def late_proxy() -> Iterator[TcpProxy]:
    proxy = TcpProxy(free_port(), 5432)
    yield proxy
    proxy.stop()


@dataclass
class Production:
    """Runs the image's roles as production containers: one fresh database, file secrets."""

    containers: Containers
    env: dict[str, str]
    options: tuple[str, ...]

    def run(self, command: str, *options: str) -> Container:
        """``docker run`` ``command`` (a role) with the shared environment and ``options``."""
        return self.containers.run(command, env=self.env, options=(*self.options, *options))

    def serving(self, role: str = "web", *options: str) -> Container:
        """Run ``role`` and wait until it is ready."""
        container = self.run(role, *options)
        wait_ready(container)
        return container


@pytest.fixture
def production(containers: Containers, postgres_url: str, secrets_dir: Path) -> Production:
    env, options = app_env(postgres_url, secrets_dir)
    return Production(containers, env, options)


def test_web_waits_for_the_database_then_migrates_and_serves(
    containers: Containers, postgres_url: str, secrets_dir: Path, late_proxy: TcpProxy
) -> None:
    url = postgres_url.replace("127.0.0.1:5432", f"127.0.0.1:{late_proxy.listen_port}")
    env, options = app_env(url, secrets_dir)
    web = containers.run("web", env=env, options=options)
    wait_until(
        lambda: web.logs().count("waiting for the database") >= 3, 60, "three waiting log lines"
    )
    with pytest.raises(OSError):
        http("GET", web.base + "/healthz", timeout=2)  # nothing serves before the database answers
    assert web.running()
    late_proxy.start()
    wait_ready(web)
    logs = web.logs()
    attempts = re.findall(r"waiting for the database at (\S+) \(attempt (\d+)", logs)
    assert [int(n) for _, n in attempts] == list(range(1, len(attempts) + 1))
    assert "answered after" in logs
    assert logs.count("Running upgrade") == migration_heads()


def test_three_replicas_booting_together_migrate_exactly_once(
    production: Production, postgres_url: str
) -> None:
    with ThreadPoolExecutor(3) as pool:
        replicas = list(pool.map(lambda _: production.run("web"), range(3)))
    for replica in replicas:
        wait_ready(replica)
    upgrades = [replica.logs().count("Running upgrade") for replica in replicas]
    assert sum(upgrades) == migration_heads(), upgrades
    assert sorted(upgrades) == [0, 0, migration_heads()]
    assert scalar(postgres_url, "SELECT COUNT(*) FROM alembic_version") == 1
    for replica in replicas:
        status, body = http("GET", replica.base + "/api/v1/posts")
        assert status == 200, body


def test_worker_completes_a_demo_job_with_visible_progress(production: Production) -> None:
    web = production.serving()
    production.run("worker")
    token = sign_up(web.base)
    job = run_demo_job(web.base, token, seconds=3, steps=6)
    assert job["status"] == "finished", job
    assert job["progress"] == 100
    assert any(0 < p < 100 for p in job["progress_seen"]), job["progress_seen"]


def test_docker_stop_lets_a_running_request_finish(production: Production) -> None:
    web = production.serving()
    production.run("worker")
    token = sign_up(web.base)
    job = start_demo_job(web.base, token, seconds=20, steps=20)
    # A job event stream, open for the job's 20 s.
    stream = HTTPConnection("127.0.0.1", web.port, timeout=30)
    stream.request(
        "GET", f"/api/v1/jobs/{job['id']}/events", headers={"Authorization": f"Bearer {token}"}
    )
    response = stream.getresponse()
    assert response.status == 200
    first = response.readline()
    assert first, "the stream sent nothing"
    # A post whose body is still arriving when the stop begins.
    body = json.dumps({"title": "written across a stop", "body": "b"}).encode()
    post = socket.create_connection(("127.0.0.1", web.port), timeout=30)
    post.sendall(
        b"POST /api/v1/posts HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n"
        + f"Authorization: Bearer {token}\r\nContent-Length: {len(body)}\r\n\r\n".encode()
        + body[:10]
    )
    time.sleep(0.5)  # the request is in a thread, waiting for the rest of its body
    started = time.monotonic()
    stopper = threading.Thread(target=docker, args=("stop", "-t", "40", web.name), daemon=True)
    stopper.start()
    # The stream gets a final event and ends at once, not when the job ends.
    events = first + response.read()
    stream_closed = time.monotonic() - started
    stream.close()
    assert b"event: shutdown" in events, events[-500:]
    assert stream_closed < 10, f"the stream stayed open {stream_closed:.1f} s after the stop"
    post.sendall(body[10:])
    answer = b""
    while chunk := post.recv(65536):
        answer += chunk
    post.close()
    assert answer.startswith(b"HTTP/1.1 201"), answer[:300]
    stopper.join(60)
    elapsed = time.monotonic() - started
    state = web.state()["State"]
    assert not state["Running"]
    assert state["ExitCode"] == 0, web.logs()[-2000:]
    assert elapsed < 30, f"stop took {elapsed:.1f} s, beyond gunicorn's graceful timeout"


def test_read_only_unprivileged_container_serves_and_stores_uploads(
    containers: Containers, production: Production
) -> None:
    volume = containers.volume()
    hardened = (
        "--read-only",
        "--tmpfs",
        "/tmp:size=64m",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges:true",
        "-v",
        f"{volume}:/data/uploads",
    )
    web = production.serving("web", *hardened)
    host_config = web.state()["HostConfig"]
    assert host_config["ReadonlyRootfs"] is True
    assert host_config["CapDrop"] == ["ALL"]
    assert web.exec("id", "-u").stdout.strip() == "10001"
    token = sign_up(web.base)
    boundary = "flaskyardtestboundary"
    payload = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="note.txt"\r\n'
        f"Content-Type: text/plain\r\n\r\nhello from a read-only container\n\r\n--{boundary}--\r\n"
    ).encode()
    status, body = http(
        "POST",
        web.base + "/api/v1/uploads",
        token=token,
        data=payload,
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status == 201, body
    listing = docker(
        "run",
        "--rm",
        "--network",
        "host",
        "-v",
        f"{volume}:/data/uploads",
        "--entrypoint",
        "sh",
        containers.image,
        "-c",
        "grep -rl 'hello from a read-only container' /data/uploads",
    )
    assert listing.stdout.strip(), "the upload is not in the volume"


def test_file_secrets_reach_the_app_and_never_the_image(
    containers: Containers, postgres_url: str, secrets_dir: Path
) -> None:
    (secrets_dir / "database_url").write_text(postgres_url + "\n", encoding="utf-8")
    (secrets_dir / "database_url").chmod(0o644)
    env, options = app_env("DOCKER-SECRET->database_url", secrets_dir)
    web = containers.run("web", env=env, options=options)
    wait_ready(web)  # DATABASE_URL came from /run/secrets/database_url
    token = sign_up(web.base)
    jwt_key = (secrets_dir / "jwt_secret_key").read_text(encoding="utf-8").strip()
    claims = jwt.decode(token, jwt_key, algorithms=["HS256"])  # signed with the _FILE secret
    assert claims["sub"]
    values = [
        (secrets_dir / n).read_text(encoding="utf-8").strip()
        for n in ("secret_key", "jwt_secret_key")
    ]
    inspected = (
        docker("inspect", web.name).stdout + docker("image", "inspect", containers.image).stdout
    )
    history = docker("history", "--no-trunc", containers.image).stdout
    environs = web.exec("sh", "-c", "cat /proc/[0-9]*/environ 2>/dev/null | tr '\\0' '\\n'").stdout
    for value in values:
        assert value not in inspected
        assert value not in history
        assert value not in environs  # never exported into any process's environment
    assert "DOCKER-SECRET->secret_key" in environs


def test_all_in_one_serves_works_jobs_and_reloads_without_dropping_requests(
    production: Production,
) -> None:
    box = production.serving("all-in-one")
    token = sign_up(box.base)
    job = run_demo_job(box.base, token, seconds=1, steps=2)
    assert job["status"] == "finished", job

    failures: list[str] = []
    statuses: list[int] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set():
            try:
                status, _ = http("GET", box.base + "/api/v1/posts", timeout=10)
                statuses.append(status)
                if status != 200:
                    failures.append(str(status))
            except OSError as exc:
                failures.append(repr(exc))

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(1)
    before = box.logs().count("Booting worker")
    result = box.exec("flask", "restart-workers")
    assert "SIGHUP" in result.stdout
    wait_until(lambda: box.logs().count("Booting worker") >= before + 2, 30, "new gunicorn workers")
    time.sleep(1.5)
    stop.set()
    for thread in threads:
        thread.join(15)
    assert "Handling signal: hup" in box.logs()
    assert not failures, failures[:5]
    assert len(statuses) > 20
    # Production logs JSON lines from every process: boot, supervisord, gunicorn, RQ, Alembic.
    lines = [line for line in box.logs().splitlines() if line.strip()]
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"not a JSON line: {line!r}") from None
    names = {str(record.get("name")) for record in records}
    assert {"supervisord", "gunicorn.access", "rq.worker", "alembic.runtime.migration"} <= names


def test_sentry_gets_the_errors_of_web_and_worker_containers(
    production: Production, sentry_server: tuple[str, list[bytes]]
) -> None:
    dsn, bodies = sentry_server  # a loopback server posing as Sentry, reached over host networking
    web = production.serving("web", "-e", f"SENTRY_DSN={dsn}")
    production.run("worker", "-e", f"SENTRY_DSN={dsn}")
    assert "error reports go to Sentry" in web.logs()

    def reported(text: bytes) -> bool:
        return any(b'"type":"event"' in body and text in body for body in list(bodies))

    # The worker: a job that fails is reported with its exception.
    token = sign_up(web.base)
    start_demo_job(web.base, token, seconds=0.2, steps=1, fail_at=1)
    wait_until(lambda: reported(b"Failed at step 1 of 1"), 60, "the failed job's Sentry event")
    # The web app as the image runs it (production settings, the image's venv): an unhandled
    # error in a view is reported.
    result = web.exec(
        "env", f"SENTRY_DSN={dsn}", "python", "-c", SENTRY_SCRIPT, "sqlite:////tmp/sentry.db",
        "/tmp", "boom",
    )  # fmt: skip
    assert "status 500" in result.stdout, result.stdout + result.stderr
    wait_until(lambda: reported(b"boom for the sentry test"), 30, "the view error's Sentry event")


def test_restart_workers_explains_a_missing_pid_file(production: Production) -> None:
    web = production.serving()
    result = web.exec(
        "env", "GUNICORN_PID_FILE=/tmp/nothing.pid", "flask", "restart-workers", check=False
    )
    assert result.returncode != 0
    assert "No pid file at /tmp/nothing.pid" in result.stderr


def test_all_in_one_exits_non_zero_when_a_program_keeps_failing(production: Production) -> None:
    # Nothing listens on port 9: both programs' boots fail at once, again and again, and the
    # listener must stop the container with status 1.
    production.env.update(REDIS_URL="redis://127.0.0.1:9/0", BOOT_WAIT_TIMEOUT="0")
    box = production.run("/app/docker/supervise.py", "--entrypoint", "python")
    wait_until(lambda: not box.running(), 90, "the all-in-one container to exit")
    assert box.state()["State"]["ExitCode"] == 1, box.logs()[-3000:]
    assert "kept failing" in box.logs()  # supervise.py names the program


def test_scheduler_role_takes_the_queue_locks_and_stops_cleanly(production: Production) -> None:
    # Worker containers of earlier tests ran a scheduler too, and a killed one keeps RQ's
    # per-queue scheduler locks for up to 61 s: drop those locks (only them) from the
    # containers' Redis database, which no other process shares.
    client = Redis.from_url(REDIS_URL)
    stale = list(client.scan_iter("rq:scheduler-lock:*"))
    if stale:
        client.delete(*stale)
    client.close()
    scheduler = production.run("scheduler")
    wait_until(lambda: "Acquired scheduler lock" in scheduler.logs(), 60, "the scheduler locks")
    assert scheduler.exec("python", "-m", "flaskyard.boot", "healthcheck").returncode == 0
    docker("stop", "-t", "20", scheduler.name)
    assert scheduler.state()["State"]["ExitCode"] == 0, scheduler.logs()[-2000:]
    assert "releasing locks" in scheduler.logs()
