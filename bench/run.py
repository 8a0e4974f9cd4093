"""Benchmark Flaskyard against a bare Flask app, both under the same gunicorn, in one run.

Steps: (re)create the ``flaskyard_bench`` database, migrate, seed 1,000 posts and one login
user, start three gunicorns under identical settings on loopback (Flaskyard as shipped,
Flaskyard with ``POSTS_CACHE=false``, and ``bench/baseline.py``), wait until all answer, warm
every endpoint up, then drive them with ``wrk --latency`` in interleaved rounds (every endpoint
of ``ENDPOINTS`` once per round, baseline first). Prints req/s, p50 and p99 per endpoint and the
ratio of each Flaskyard endpoint to the baseline measured in the same round, writes
``bench/results/latest.json``, stops the servers and drops the database.

Flaskyard runs with ``LOGIN_RATE_LIMIT_IP=1000000 per minute`` (shipped default: 60 per minute),
otherwise wrk's logins from one address would be throttled to 429 within a second. Every other
setting is the production default. The raw argon2id rate the login row is held to is measured
in every round, just before and just after that round's sign-ins.

Exit status: 0 when the measurements were taken (whether or not the goal was met), 1 on a
harness error (wrk missing, a server failing to start, a non-2xx answer, ...), 130 on Ctrl-C.

Settings (environment): BENCH_DURATION (10s), BENCH_WARMUP (2s), BENCH_ROUNDS (2),
BENCH_CONNECTIONS (16), BENCH_WRK_THREADS (2), BENCH_WORKERS (2), BENCH_THREADS (4),
BENCH_POSTS (1000), BENCH_PG_HOST (127.0.0.1), BENCH_PG_PORT (5432), BENCH_PG_USER (postgres),
BENCH_DB (flaskyard_bench), BENCH_REDIS_URL (redis://127.0.0.1:6379/14).
"""

from __future__ import annotations

import http.client
import ipaddress
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TextIO
from urllib.parse import urlsplit

import psycopg
from harness import HarnessError, run_harness
from plots import load_jobs, write_plots
from psycopg import sql

from flaskyard.config import ALIASES, setting_names
from flaskyard.users.passwords import OWASP_PARAMETERS, make_hasher

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_FILE = BENCH_DIR / "results" / "latest.json"
#: The published results of the last full run (committed, linked from the README).
BENCHMARKS_FILE = ROOT / "BENCHMARKS.md"
#: The plots bench/plots.py draws into docs/img/, shown in BENCHMARKS.md.
PLOTS = (
    ("bench-http.png", "req/s of each endpoint as a share of bare Flask, gunicorn and granian"),
    ("bench-servers.png", "req/s of each endpoint under gunicorn and under granian"),
    ("bench-jobs.png", "jobs/s of Flaskyard's worker and of plain RQ"),
)
LOOPBACK = "127.0.0.1"
GOAL_ENDPOINT = "posts_list"
GOAL_VARIANT = "cached, POSTS_CACHE=true, the shipped default"
GOAL_RATIO = 0.40
#: Logins/s must reach this share of the box's raw argon2id verify rate.
LOGIN_GOAL = 0.80
#: /healthz p99 with LOGINS_IN_FLIGHT sign-ins running, at most this multiple of its idle p99.
HEALTHZ_BUSY_GOAL = 3.0
LOGINS_IN_FLIGHT = 8
#: Goals of other rows, as ratios to the baseline of the same round (the verdict prints them).
ROW_GOALS = {"posts_list_uncached": 0.15, "users_me": 0.30, "healthz": 0.80}
#: The app's throughput under granian, at least this multiple of its gunicorn figure.
GRANIAN_GOAL = 1.5
#: Raised so wrk can drive the login endpoint from one address; said so in the output.
BENCH_LOGIN_RATE_LIMIT_IP = "1000000 per minute"
#: The account the login and token endpoints use; its password is random per run.
LOGIN_USER = "bench-login"
POSTS_PATH = "/api/v1/posts?per_page=20"
READY_TIMEOUT_S = 60.0
#: After a run, wait (at most this long) until the server answers its cheap path quickly
#: SETTLE_STREAK times in a row, so requests still queued from one run (a backlog of logins
#: takes seconds) do not eat into the next run.
SETTLE_TIMEOUT_S = 15.0
SETTLE_FAST_S = 0.1
SETTLE_STREAK = 3
STOP_TIMEOUT_S = 10.0
#: Environment names that would change how gunicorn or the app behaves behind our back.
STRIPPED_ENV_PREFIXES = ("GUNICORN_", "FLASK_", "WERKZEUG_")


@dataclass(frozen=True)
class Config:
    """Everything that shapes a run, read once from the environment."""

    duration_s: int
    warmup_s: int
    rounds: int
    connections: int
    wrk_threads: int
    workers: int
    threads: int
    posts: int
    pg_host: str
    pg_port: int
    pg_user: str
    db_name: str
    redis_url: str
    #: The servers every endpoint is measured under, gunicorn first.
    server_kinds: tuple[str, ...] = ("gunicorn",)

    @property
    def granian_args(self) -> list[str]:
        """The granian settings both servers share: its processes and threads as gunicorn's."""
        return [
            "--interface", "wsgi",
            "--http", "1",
            "--no-ws",
            "--workers", str(self.workers),
            "--runtime-threads", "1",
            "--blocking-threads", str(self.threads),
            "--log-level", "warning",
            "--no-access-log",
        ]  # fmt: skip

    @property
    def gunicorn_args(self) -> list[str]:
        """The settings both servers share, word for word."""
        return [
            "--workers", str(self.workers),
            "--worker-class", "gthread",
            "--threads", str(self.threads),
            "--graceful-timeout", "5",
            "--log-level", "warning",
        ]  # fmt: skip

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.db_name}"


@dataclass(frozen=True)
class Endpoint:
    """One thing to measure."""

    name: str
    server: str
    path: str
    label: str
    method: str = "GET"
    #: Send ``Authorization: Bearer <fresh access token>``.
    bearer: bool = False
    #: POST the login user's credentials as JSON (through a wrk Lua script).
    login: bool = False
    #: Connections for this endpoint (None: BENCH_CONNECTIONS); logins use one per place
    #: every worker admits (one hash, one waiter), each sign-in on a new connection
    #: (LOGIN_BACKOFF_LUA).
    connections_per_worker: int | None = None


#: Measured in this order in every round; the baseline must come first.
ENDPOINTS = (
    Endpoint("baseline", "baseline", "/json", "baseline GET /json"),
    Endpoint("posts_list", "app", POSTS_PATH, "posts list, cached (default)"),
    Endpoint("posts_list_uncached", "app_uncached", POSTS_PATH, "posts list, POSTS_CACHE=false"),
    Endpoint(
        "posts_list_bearer",
        "app",
        POSTS_PATH,
        "posts list, cached + Bearer (not checked)",
        bearer=True,
    ),
    Endpoint(
        "users_me", "app", "/api/v1/users/me", "GET users/me (token+revocation+user)", bearer=True
    ),
    Endpoint(
        "login",
        "app",
        "/api/v1/auth/login",
        "POST auth/login (argon2id)",
        "POST",
        login=True,
        connections_per_worker=2,
    ),
    Endpoint("healthz", "app", "/healthz", "GET /healthz"),
)
SERVERS = ("app", "app_uncached", "baseline")


@dataclass
class WrkResult:
    """What one wrk run reported."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    socket_errors: dict[str, int] = field(default_factory=dict)


@dataclass
class Server:
    """A running gunicorn master and where its output goes."""

    name: str
    port: int
    process: subprocess.Popen[bytes]
    log_path: Path
    log: TextIO
    kind: str = "gunicorn"

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"


# --------------------------------------------------------------------------- configuration


def _seconds(name: str, default: str) -> int:
    raw = os.environ.get(name, default).strip().lower()
    match = re.fullmatch(r"(\d+)\s*(s|m)?", raw)
    if not match or int(match.group(1)) <= 0:
        raise HarnessError(f"{name} must be a positive duration like 10 or 10s or 1m, not {raw!r}.")
    return int(match.group(1)) * (60 if match.group(2) == "m" else 1)


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default)).strip()
    if not raw.isdigit() or int(raw) <= 0:
        raise HarnessError(f"{name} must be a positive integer, not {raw!r}.")
    return int(raw)


def _require_loopback(what: str, host: str) -> str:
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    if not loopback:
        raise HarnessError(f"{what} must be a loopback address, not {host!r}.")
    return host


def load_config() -> Config:
    """Read the BENCH_* environment; every host must be loopback."""
    redis_url = os.environ.get("BENCH_REDIS_URL", f"redis://{LOOPBACK}:6379/14")
    _require_loopback("BENCH_REDIS_URL", urlsplit(redis_url).hostname or "")
    db_name = os.environ.get("BENCH_DB", "flaskyard_bench")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*bench[a-z0-9_]*", db_name):
        raise HarnessError(f"BENCH_DB must be a plain name containing 'bench', not {db_name!r}.")
    config = Config(
        duration_s=_seconds("BENCH_DURATION", "10s"),
        warmup_s=_seconds("BENCH_WARMUP", "2s"),
        rounds=_positive_int("BENCH_ROUNDS", 2),
        connections=_positive_int("BENCH_CONNECTIONS", 16),
        wrk_threads=_positive_int("BENCH_WRK_THREADS", 2),
        workers=_positive_int("BENCH_WORKERS", 2),
        threads=_positive_int("BENCH_THREADS", 4),
        posts=_positive_int("BENCH_POSTS", 1000),
        pg_host=_require_loopback("BENCH_PG_HOST", os.environ.get("BENCH_PG_HOST", LOOPBACK)),
        pg_port=_positive_int("BENCH_PG_PORT", 5432),
        pg_user=os.environ.get("BENCH_PG_USER", "postgres"),
        db_name=db_name,
        redis_url=redis_url,
    )
    if config.wrk_threads > config.connections:
        raise HarnessError("BENCH_WRK_THREADS cannot exceed BENCH_CONNECTIONS.")
    kinds = tuple(k.strip() for k in os.environ.get("BENCH_SERVERS", "gunicorn,granian").split(","))
    if not kinds or kinds[0] != "gunicorn" or not set(kinds) <= {"gunicorn", "granian"}:
        raise HarnessError(f"BENCH_SERVERS must be gunicorn or gunicorn,granian, not {kinds!r}.")
    if "granian" in kinds and granian_binary() is None:
        print("bench: granian is not installed here; measuring gunicorn only.")
        kinds = ("gunicorn",)
    return replace(config, server_kinds=kinds)


def granian_binary() -> str | None:
    """granian's console script next to this interpreter (the venv), else from PATH."""
    sibling = Path(sys.executable).parent / "granian"
    return str(sibling) if sibling.exists() else shutil.which("granian")


def clean_environment() -> dict[str, str]:
    """The caller's environment minus anything that configures gunicorn, Flask or Flaskyard."""
    app_names = set(setting_names()) | {a for names in ALIASES.values() for a in names}
    app_names |= {f"{n}_FILE" for n in app_names} | {"SECRETS_DIR"}
    return {
        key: value
        for key, value in os.environ.items()
        if key not in app_names and not key.startswith(STRIPPED_ENV_PREFIXES)
    }


def app_environment(config: Config, base: Mapping[str, str], instance_dir: Path) -> dict[str, str]:
    """Production settings for Flaskyard with throwaway secrets and quiet request logging."""
    return {
        **base,
        "APP_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "JWT_SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": config.database_url,
        "REDIS_URL": config.redis_url,
        "LOG_LEVEL": "WARNING",
        "INSTANCE_DIR": str(instance_dir),
        "LOGIN_RATE_LIMIT_IP": BENCH_LOGIN_RATE_LIMIT_IP,
    }


# --------------------------------------------------------------------------- database


class PgTarget(Protocol):
    """Where a bench database lives (run.py's Config and jobs.py's JobsConfig both are)."""

    @property
    def pg_host(self) -> str: ...
    @property
    def pg_port(self) -> int: ...
    @property
    def pg_user(self) -> str: ...
    @property
    def db_name(self) -> str: ...


def pg_connect(config: PgTarget, dbname: str = "postgres") -> psycopg.Connection[Any]:
    """An autocommit connection to ``dbname`` (the admin database by default)."""
    try:
        return psycopg.connect(
            host=config.pg_host,
            port=config.pg_port,
            user=config.pg_user,
            dbname=dbname,
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        raise HarnessError(
            f"Cannot reach PostgreSQL at {config.pg_host}:{config.pg_port}: {exc}"
        ) from exc


def recreate_database(config: PgTarget) -> None:
    """Drop the bench database if a previous run left it, then create it empty."""
    with pg_connect(config) as conn:
        name = sql.Identifier(config.db_name)
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def drop_database(config: PgTarget) -> None:
    """Drop the bench database (used in ``finally``)."""
    with pg_connect(config) as conn:
        conn.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                sql.Identifier(config.db_name)
            )
        )


def run_step(what: str, argv: list[str], env: Mapping[str, str], cwd: Path, log: Path) -> None:
    """Run one preparation command, its output to ``log``; fail with the log's tail."""
    with log.open("w", encoding="utf-8") as handle:
        try:
            result = subprocess.run(
                argv, env=dict(env), cwd=cwd, stdout=handle, stderr=subprocess.STDOUT, timeout=300
            )
        except subprocess.TimeoutExpired as exc:
            raise HarnessError(f"{what} did not finish within 300 s; see {log}.") from exc
    if result.returncode != 0:
        raise HarnessError(f"{what} failed (exit {result.returncode}):\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log, indented, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"    (no log at {path})"
    return "\n".join("    " + line for line in text.splitlines()[-lines:])


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    """A TCP port on loopback that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def start_server(
    name: str,
    config: Config,
    target: list[str],
    env: Mapping[str, str],
    workdir: Path,
    kind: str = "gunicorn",
) -> Server:
    """Start ``gunicorn <shared settings> -b 127.0.0.1:<port> <target>`` in its own session.

    With ``kind="granian"``: ``granian <shared settings> --host 127.0.0.1 --port <port>
    <target>``, where ``target`` is granian's (``--factory flaskyard:create_app``).
    """
    port = free_port()
    log_path = workdir / f"{kind}-{name}.log"
    log = log_path.open("w", encoding="utf-8")
    if kind == "granian":
        argv = [
            granian_binary() or "granian",
            *config.granian_args,
            "--host", LOOPBACK,
            "--port", str(port),
            *target,
        ]  # fmt: skip
    else:
        argv = [
            sys.executable, "-m", "gunicorn",
            *config.gunicorn_args,
            "--bind", f"{LOOPBACK}:{port}",
            *target,
        ]  # fmt: skip
    # cwd is the temp dir, so no stray ./gunicorn.conf.py or .env.d/ can change either server.
    process = subprocess.Popen(
        argv,
        env=dict(env),
        cwd=workdir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return Server(name=name, port=port, process=process, log_path=log_path, log=log, kind=kind)


def stop_server(server: Server) -> None:
    """Stop the server's process (see ``stop_process``) and close its log."""
    stop_process(server.process)
    server.log.close()


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM the master (graceful), then SIGKILL its whole process group if it lingers."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT_S)
    # Workers of a killed master would otherwise linger in its group.
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def http_request(
    server: Server,
    method: str,
    path: str,
    *,
    headers: Mapping[str, str] | None = None,
    body: bytes | None = None,
    timeout: float = 5.0,
) -> tuple[int, bytes]:
    """One request over loopback; returns status and body."""
    conn = http.client.HTTPConnection(LOOPBACK, server.port, timeout=timeout)
    try:
        conn.request(method, path, body=body, headers=dict(headers or {}))
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def http_get(server: Server, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    """One GET over loopback; returns status and body."""
    return http_request(server, "GET", path, timeout=timeout)


def settle(server: Server, path: str) -> None:
    """Wait until ``server`` has drained what the last wrk run left queued (bounded)."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    streak = 0
    while streak < SETTLE_STREAK and time.monotonic() < deadline:
        began = time.monotonic()
        try:
            http_get(server, path, timeout=SETTLE_TIMEOUT_S)
        except OSError:
            streak = 0
            time.sleep(0.1)
            continue
        streak = streak + 1 if time.monotonic() - began < SETTLE_FAST_S else 0


@dataclass(frozen=True)
class Login:
    """The login user's credentials and the files wrk needs to post them."""

    username: str
    password: str
    script: Path

    @property
    def body(self) -> bytes:
        return json.dumps({"username": self.username, "password": self.password}).encode()


#: Every sign-in on a new connection, as sign-ins from different people arrive: with kept-alive
#: connections gunicorn's workers hold them unevenly (three and one of four, say), and one
#: core idles while the other refuses. A busy answer (503 or 429) makes the client pause
#: 50 ms before its next sign-in instead of re-sending in a tight loop (wrk's delay() cannot
#: tell connections apart, so the pause is short rather than the whole Retry-After).
LOGIN_BACKOFF_LUA = """
wrk.headers["Connection"] = "close"
local wait = 0
response = function(status, headers, body)
  if status == 503 or status == 429 then
    wait = 50
  end
end
delay = function()
  local ms = wait
  wait = 0
  return ms
end
"""


def make_login(workdir: Path) -> Login:
    """A random password for the login user and a wrk Lua script that posts it (mode 0600)."""
    password = secrets.token_urlsafe(24)
    body = json.dumps({"username": LOGIN_USER, "password": password})
    script = workdir / "login.lua"
    fd = os.open(script, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(
            'wrk.method = "POST"\n'
            f"wrk.body = [[{body}]]\n"
            'wrk.headers["Content-Type"] = "application/json"\n' + LOGIN_BACKOFF_LUA
        )
    return Login(username=LOGIN_USER, password=password, script=script)


def log_in(server: Server, login: Login) -> str:
    """Sign the login user in once; return a fresh access token."""
    status, body = http_request(
        server,
        "POST",
        "/api/v1/auth/login",
        headers={"Content-Type": "application/json"},
        body=login.body,
        timeout=30.0,
    )
    if status != 200:
        raise HarnessError(f"POST /api/v1/auth/login answered HTTP {status}: {body[:300]!r}")
    pair = json.loads(body)
    if pair.get("token_type") != "Bearer" or not pair.get("access_token"):
        raise HarnessError(f"The login answered without an access token: {body[:300]!r}")
    token: str = pair["access_token"]
    return token


def endpoint_request(
    endpoint: Endpoint, servers: Mapping[str, Server], login: Login
) -> tuple[int, bytes]:
    """One request exactly as wrk will send it (with a fresh token where needed)."""
    headers: dict[str, str] = {}
    body = None
    if endpoint.bearer:
        headers["Authorization"] = f"Bearer {log_in(servers['app'], login)}"
    if endpoint.login:
        headers["Content-Type"] = "application/json"
        body = login.body
    return http_request(
        servers[endpoint.server],
        endpoint.method,
        endpoint.path,
        headers=headers,
        body=body,
        timeout=30.0,
    )


def wait_ready(server: Server, path: str) -> None:
    """Poll ``path`` until it answers 200, the server dies, or the timeout passes."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    last = "no answer yet"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise HarnessError(
                f"The {server.name} server exited with {server.process.returncode} while starting:"
                f"\n{tail(server.log_path)}"
            )
        try:
            status, _ = http_get(server, path, timeout=2.0)
        except OSError as exc:
            last = f"{type(exc).__name__}: {exc}"
        else:
            if status == 200:
                return
            last = f"HTTP {status}"
        time.sleep(0.2)
    raise HarnessError(
        f"The {server.name} server did not answer 200 on {path} within {READY_TIMEOUT_S:g} s "
        f"({last}):\n{tail(server.log_path)}"
    )


def check_responses(servers: Mapping[str, Server], config: Config, login: Login) -> None:
    """Make sure each endpoint returns what we think it returns before timing it."""
    answers: dict[str, bytes] = {}
    for endpoint in ENDPOINTS:
        status, body = endpoint_request(endpoint, servers, login)
        if status != 200:
            raise HarnessError(
                f"{endpoint.method} {endpoint.path} on {endpoint.server} answered HTTP {status}: "
                f"{body[:300]!r}"
            )
        answers[endpoint.name] = body
    if json.loads(answers["baseline"]) != {"message": "Hello, World!"}:
        raise HarnessError(f"The baseline /json answered {answers['baseline'][:200]!r}.")
    for name in ("posts_list", "posts_list_uncached", "posts_list_bearer"):
        page = json.loads(answers[name])
        if len(page.get("items", [])) != 20 or page.get("total") != config.posts:
            raise HarnessError(
                f"{name} returned {len(page.get('items', []))} items and total "
                f"{page.get('total')!r}; expected 20 of {config.posts}."
            )
    if json.loads(answers["users_me"]).get("username") != login.username:
        raise HarnessError(f"users/me answered {answers['users_me'][:300]!r}.")
    # The token check really is on the /users/me path: without a token it must refuse.
    status, _ = http_get(servers["app"], "/api/v1/users/me")
    if status != 401:
        raise HarnessError(f"GET /api/v1/users/me without a token answered {status}, not 401.")


# --------------------------------------------------------------------------- wrk

_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}
_PERCENTILE = re.compile(r"^\s*(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", re.MULTILINE)
_RPS = re.compile(r"^Requests/sec:\s+([\d.]+)", re.MULTILINE)
_TOTAL = re.compile(r"^\s*(\d+) requests in ([\d.]+)(us|ms|s|m)", re.MULTILINE)
_NON_2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_SOCKET_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")


def parse_wrk(output: str) -> WrkResult:
    """Read Requests/sec and the 50 % / 99 % latency lines of ``wrk --latency``; times in ms."""
    rps = _RPS.search(output)
    total = _TOTAL.search(output)
    percentiles = {
        m.group(1): float(m.group(2)) * _UNIT_MS[m.group(3)] for m in _PERCENTILE.finditer(output)
    }
    if not rps or not total or set(percentiles) != {"50", "99"}:
        raise HarnessError(f"Could not parse wrk's output:\n{output}")
    non_2xx = _NON_2XX.search(output)
    errors = _SOCKET_ERRORS.search(output)
    return WrkResult(
        requests=int(total.group(1)),
        seconds=float(total.group(2)) * _UNIT_MS[total.group(3)] / 1000.0,
        rps=float(rps.group(1)),
        p50_ms=percentiles["50"],
        p99_ms=percentiles["99"],
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors=(
            dict(
                zip(("connect", "read", "write", "timeout"), map(int, errors.groups()), strict=True)
            )
            if errors
            else {}
        ),
    )


def run_wrk(
    wrk: str,
    config: Config,
    url: str,
    seconds: int,
    *,
    headers: Mapping[str, str] | None = None,
    script: Path | None = None,
    connections: int | None = None,
    allow_busy: bool = False,
) -> WrkResult:
    """One bounded wrk run against a loopback URL.

    ``allow_busy``: non-2xx answers (the sign-in gate's 503s) are counted, not fatal; req/s
    then counts the 2xx answers only.
    """
    _require_loopback("wrk target", urlsplit(url).hostname or "")
    connections = connections or config.connections
    argv = [
        wrk, "--latency",
        "-t", str(min(config.wrk_threads, connections)),
        "-c", str(connections),
        "-d", f"{seconds}s",
        "--timeout", "5s",
    ]  # fmt: skip
    for name, value in (headers or {}).items():
        argv += ["-H", f"{name}: {value}"]
    if script is not None:
        argv += ["-s", str(script)]
    argv.append(url)
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired as exc:
        raise HarnessError(f"wrk did not finish against {url}.") from exc
    if done.returncode != 0:
        raise HarnessError(f"wrk failed against {url} (exit {done.returncode}):\n{done.stderr}")
    if script is not None and "Requests/sec" not in done.stdout:
        raise HarnessError(f"wrk's Lua script failed against {url}:\n{done.stderr}{done.stdout}")
    result = parse_wrk(done.stdout)
    if result.requests == 0:
        raise HarnessError(f"wrk completed no requests against {url}.")
    if result.non_2xx and allow_busy:
        result.rps = (result.requests - result.non_2xx) / result.seconds
    elif result.non_2xx:
        raise HarnessError(
            f"{url} answered {result.non_2xx} of {result.requests} requests with non-2xx; "
            "the numbers would be meaningless."
        )
    return result


# --------------------------------------------------------------------------- sign-in costs


def raw_verify_rate(seconds: float) -> float:
    """argon2id verifications per second with the app's parameters, one thread per CPU.

    What the box can do at most: a sign-in is worth its hash, so logins/s is held to this.
    """
    hasher = make_hasher(**OWASP_PARAMETERS)
    encoded = hasher.hash("bench password")
    counts: list[int] = []
    deadline = time.monotonic() + seconds

    def spin() -> None:
        done = 0
        while time.monotonic() < deadline:
            hasher.verify(encoded, "bench password")
            done += 1
        counts.append(done)

    began = time.monotonic()
    threads = [threading.Thread(target=spin) for _ in range(os.cpu_count() or 1)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(counts) / (time.monotonic() - began)


def healthz_under_logins(
    wrk: str, config: Config, servers: Mapping[str, Server], login: Login, in_flight: int
) -> WrkResult:
    """``/healthz`` measured while ``in_flight`` sign-ins are kept in flight on the same app."""
    app = servers["app"]
    seconds = config.duration_s
    argv = [
        wrk, "-t", "1", "-c", str(in_flight), "-d", f"{seconds + 2}s", "--timeout", "5s",
        "-s", str(login.script), app.base_url + "/api/v1/auth/login",
    ]  # fmt: skip
    logins = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        time.sleep(1.0)  # the sign-ins are in flight before the probe starts
        result = run_wrk(wrk, config, app.base_url + "/healthz", seconds)
    finally:
        try:
            logins.wait(timeout=seconds + 30)
        except subprocess.TimeoutExpired:
            logins.kill()
            logins.wait()
    settle(app, "/healthz")
    return result


# --------------------------------------------------------------------------- reporting


def summarize(rounds: list[dict[str, WrkResult]]) -> dict[str, Any]:
    """Median per endpoint over the rounds, and ratios taken within each round."""
    endpoints: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        runs = [r[endpoint.name] for r in rounds]
        endpoints[endpoint.name] = {
            "label": endpoint.label,
            "server": endpoint.server,
            "method": endpoint.method,
            "path": endpoint.path,
            "bearer": endpoint.bearer,
            "rps": statistics.median(run.rps for run in runs),
            "p50_ms": statistics.median(run.p50_ms for run in runs),
            "p99_ms": statistics.median(run.p99_ms for run in runs),
            "rounds": [asdict(run) for run in runs],
        }
    ratios: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        per_round = [r[endpoint.name].rps / r["baseline"].rps for r in rounds]
        ratios[endpoint.name] = {"per_round": per_round, "median": statistics.median(per_round)}
    return {"endpoints": endpoints, "ratios": ratios}


def print_table(summary: Mapping[str, Any]) -> None:
    width = max(len(e.label) for e in ENDPOINTS)
    header = f"{'endpoint':<{width}} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}"
    print()
    print(header)
    print("-" * len(header))
    for endpoint in ENDPOINTS:
        row = summary["endpoints"][endpoint.name]
        ratio = summary["ratios"][endpoint.name]["median"]
        print(
            f"{endpoint.label:<{width}} {row['rps']:>9.0f} {row['p50_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {ratio:>6.3f}"
        )
    print("(median of rounds; ratio = app req/s / baseline req/s, same round, median of rounds)")
    print(f"posts list paths: {POSTS_PATH}; 'Bearer (not checked)' sends a valid token that the")
    print("public list ignores; users/me checks it (token, one Redis MGET of revocation and")
    print("the user's generation, the user from memory while it holds).")
    print(f"login: LOGIN_RATE_LIMIT_IP raised to '{BENCH_LOGIN_RATE_LIMIT_IP}' for this run")
    print("(shipped default '60 per minute'); each login verifies argon2id m=19 MiB, t=2, p=1.")


def print_granian_table(granian: Mapping[str, Any]) -> None:
    width = max(len(e.label) for e in ENDPOINTS)
    header = (
        f"{'under granian':<{width}} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'ratio':>6}"
        f" {'x gunicorn':>10}"
    )
    print()
    print(header)
    print("-" * len(header))
    for endpoint in ENDPOINTS:
        row = granian["endpoints"][endpoint.name]
        ratio = granian["ratios"][endpoint.name]["median"]
        speedup = granian["speedup"][endpoint.name]["median"]
        print(
            f"{endpoint.label:<{width}} {row['rps']:>9.0f} {row['p50_ms']:>8.2f} "
            f"{row['p99_ms']:>8.2f} {ratio:>6.3f} {speedup:>10.2f}"
        )
    print("(ratio = to the bare-Flask baseline under granian; x gunicorn = req/s against the")
    print(f"same row under gunicorn, same round; granian {' '.join(granian['settings'])})")


def provenance() -> dict[str, Any]:
    """When, from which commit and on what machine a benchmark's results were measured."""
    return {
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "git_revision": git_revision(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
    }


def git_revision() -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip() or None


# --------------------------------------------------------------------------- main


@contextmanager
def servers_running(
    config: Config, app_env: Mapping[str, str], base_env: Mapping[str, str], workdir: Path
) -> Iterator[dict[str, dict[str, Server]]]:
    """The three servers under each of ``config.server_kinds``, always stopped on the way out.

    Yields ``{kind: {"app": ..., "app_uncached": ..., "baseline": ...}}``.
    """
    fleets: dict[str, dict[str, Server]] = {}
    uncached_env = {**app_env, "POSTS_CACHE": "false"}
    # granian imports the baseline module by name: bench/ on its path.
    baseline_env = {**base_env, "PYTHONPATH": str(BENCH_DIR)}
    targets = {
        "gunicorn": {
            "app": ["flaskyard:create_app()"],
            "baseline": ["--pythonpath", str(BENCH_DIR), "baseline:app"],
        },
        "granian": {"app": ["--factory", "flaskyard:create_app"], "baseline": ["baseline:app"]},
    }
    try:
        for kind in config.server_kinds:
            fleet = fleets.setdefault(kind, {})
            app, baseline = targets[kind]["app"], targets[kind]["baseline"]
            fleet["app"] = start_server("app", config, app, app_env, workdir, kind)
            fleet["app_uncached"] = start_server(
                "app_uncached", config, app, uncached_env, workdir, kind
            )
            fleet["baseline"] = start_server(
                "baseline", config, baseline, baseline_env, workdir, kind
            )
        yield fleets
    finally:
        for fleet in fleets.values():
            for server in fleet.values():
                stop_server(server)


def benchmark(config: Config, wrk: str, workdir: Path) -> dict[str, Any]:
    """Prepare, measure, and return the results document."""
    base_env = clean_environment()
    app_env = app_environment(config, base_env, workdir / "instance")
    print(
        f"bench: database {config.db_name} on {config.pg_host}:{config.pg_port}, logs in {workdir}"
    )
    load_at_start = _load_average()
    recreate_database(config)
    rounds: list[dict[str, WrkResult]] = []
    granian_rounds: list[dict[str, WrkResult]] = []
    verify_rates: list[float] = []
    busy_rounds: list[WrkResult] = []
    raw_s = min(5.0, float(config.duration_s))
    login = make_login(workdir)
    try:
        flask = [sys.executable, "-m", "flask", "--app", "flaskyard"]
        run_step(
            "flask db upgrade", [*flask, "db", "upgrade"], app_env, workdir, workdir / "migrate.log"
        )
        seed_argv = [
            sys.executable, str(BENCH_DIR / "seed.py"),
            "--posts", str(config.posts),
            "--login-user", login.username,
        ]  # fmt: skip
        run_step(
            "seeding",
            seed_argv,
            {**app_env, "BENCH_LOGIN_PASSWORD": login.password},
            workdir,
            workdir / "seed.log",
        )
        print(
            "bench: " + (workdir / "seed.log").read_text(encoding="utf-8").strip().splitlines()[-1]
        )

        with servers_running(config, app_env, base_env, workdir) as fleets:
            for fleet in fleets.values():
                wait_ready(fleet["app"], "/healthz")
                wait_ready(fleet["app_uncached"], "/healthz")
                wait_ready(fleet["baseline"], "/json")
                check_responses(fleet, config, login)
            servers = fleets["gunicorn"]
            print(
                f"bench: gunicorn {' '.join(config.gunicorn_args)}; wrk -t{config.wrk_threads} "
                f"-c{config.connections} -d{config.duration_s}s x {config.rounds} rounds; "
                f"LOGIN_RATE_LIMIT_IP={BENCH_LOGIN_RATE_LIMIT_IP!r} (raised for the login runs)"
            )
            if "granian" in fleets:
                print(f"bench: granian {' '.join(config.granian_args)}; the same endpoints")

            def measure(endpoint: Endpoint, seconds: int, kind: str) -> WrkResult:
                fleet = fleets[kind]
                # A token from a login just before the run, so it cannot expire during it.
                headers = (
                    {"Authorization": f"Bearer {log_in(fleet['app'], login)}"}
                    if endpoint.bearer
                    else None
                )
                result = run_wrk(
                    wrk,
                    config,
                    fleet[endpoint.server].base_url + endpoint.path,
                    seconds,
                    headers=headers,
                    script=login.script if endpoint.login else None,
                    connections=(
                        endpoint.connections_per_worker * config.workers
                        if endpoint.connections_per_worker
                        else None
                    ),
                    allow_busy=endpoint.login,
                )
                server = fleet[endpoint.server]
                settle(server, "/json" if server.name == "baseline" else "/healthz")
                return result

            for kind in config.server_kinds:
                for endpoint in ENDPOINTS:
                    measure(endpoint, config.warmup_s, kind)
            for number in range(1, config.rounds + 1):
                # Servers alternate which goes first from one round to the next.
                kinds = config.server_kinds[:: 1 if number % 2 else -1]
                for kind in kinds:
                    measured: dict[str, WrkResult] = {}
                    for endpoint in ENDPOINTS:
                        # The hash's own rate on this box right then, for this round's login row.
                        bracket = endpoint.login and kind == "gunicorn"
                        before = raw_verify_rate(raw_s) if bracket else 0.0
                        result = measure(endpoint, config.duration_s, kind)
                        measured[endpoint.name] = result
                        errors = sum(result.socket_errors.values())
                        where = "" if kind == "gunicorn" else f" {kind}"
                        print(
                            f"  round {number}/{config.rounds}{where} {endpoint.name:<19}"
                            f" {result.rps:>9.0f} req/s"
                            f"  p50 {result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms"
                            + (f"  socket errors {result.socket_errors}" if errors else "")
                        )
                        if bracket:
                            rate = (before + raw_verify_rate(raw_s)) / 2
                            verify_rates.append(rate)
                            print(
                                f"  round {number}/{config.rounds} {'argon2id verify':<19}"
                                f" {rate:>9.1f} /s  ({os.cpu_count()} threads in this process,"
                                f" before and after; logins {result.rps / rate:.2f} of it)"
                            )
                    (rounds if kind == "gunicorn" else granian_rounds).append(measured)
                    if kind != "gunicorn":
                        continue
                    # Right after this round's idle /healthz row, so the two p99s it is held
                    # to were taken minutes apart at most, not a whole run.
                    busy = healthz_under_logins(wrk, config, servers, login, LOGINS_IN_FLIGHT)
                    busy_rounds.append(busy)
                    print(
                        f"  round {number}/{config.rounds} healthz, {LOGINS_IN_FLIGHT} logins in"
                        f" flight {busy.rps:>5.0f} req/s  p50 {busy.p50_ms:6.2f} ms"
                        f"  p99 {busy.p99_ms:7.2f} ms"
                        f" ({busy.p99_ms / measured['healthz'].p99_ms:.2f}x this round's idle)"
                    )
            for fleet in fleets.values():
                for server in fleet.values():
                    if server.process.poll() is not None:
                        raise HarnessError(
                            f"The {server.kind} {server.name} server died during the run."
                        )
    finally:
        drop_database(config)

    summary = summarize(rounds)
    granian = summarize_granian(config, rounds, granian_rounds) if granian_rounds else None
    ratio = summary["ratios"][GOAL_ENDPOINT]["median"]
    shares = [r["login"].rps / rate for r, rate in zip(rounds, verify_rates, strict=True)]
    idle_p99s = [r["healthz"].p99_ms for r in rounds]
    multiples = [b.p99_ms / idle for b, idle in zip(busy_rounds, idle_p99s, strict=True)]
    return {
        **provenance(),
        "settings": {
            "gunicorn": config.gunicorn_args,
            "wrk": {
                "threads": config.wrk_threads,
                "connections": config.connections,
                "duration_s": config.duration_s,
                "warmup_s": config.warmup_s,
            },
            "rounds": config.rounds,
            "posts": config.posts,
            "order": [e.name for e in ENDPOINTS],
            "app_overrides": {"LOGIN_RATE_LIMIT_IP": BENCH_LOGIN_RATE_LIMIT_IP},
            "app_uncached_overrides": {
                "LOGIN_RATE_LIMIT_IP": BENCH_LOGIN_RATE_LIMIT_IP,
                "POSTS_CACHE": "false",
            },
        },
        "load_average": {"start": load_at_start, "end": _load_average()},
        **summary,
        "goal": {
            "endpoint": GOAL_ENDPOINT,
            "variant": GOAL_VARIANT,
            "min_ratio": GOAL_RATIO,
            "ratio": ratio,
            "met": ratio >= GOAL_RATIO,
        },
        "login": {
            "raw_verify_per_s": statistics.median(verify_rates),
            "raw_verify_per_s_rounds": verify_rates,
            "logins_per_s": summary["endpoints"]["login"]["rps"],
            "share": statistics.median(shares),
            "share_rounds": shares,
            "min_share": LOGIN_GOAL,
            "met": statistics.median(shares) >= LOGIN_GOAL,
        },
        "healthz_under_logins": {
            "logins_in_flight": LOGINS_IN_FLIGHT,
            # Medians of the rounds; each round's busy p99 is held to its own idle p99.
            "idle_p99_ms": statistics.median(idle_p99s),
            "p99_ms": statistics.median(b.p99_ms for b in busy_rounds),
            "rps": statistics.median(b.rps for b in busy_rounds),
            "p99_multiple": statistics.median(multiples),
            "p99_multiple_rounds": multiples,
            "rounds": [asdict(b) for b in busy_rounds],
            "max_multiple": HEALTHZ_BUSY_GOAL,
            "met": statistics.median(multiples) <= HEALTHZ_BUSY_GOAL,
        },
        "row_goals": {
            name: {
                "min_ratio": goal,
                "ratio": summary["ratios"][name]["median"],
                "met": summary["ratios"][name]["median"] >= goal,
            }
            for name, goal in ROW_GOALS.items()
        },
        "granian": granian,
    }


def app_rows() -> list[str]:
    """The app's rows that make its throughput (not the baseline; not login, its hash's rate)."""
    return [e.name for e in ENDPOINTS if e.server != "baseline" and not e.login]


def summarize_granian(
    config: Config, gunicorn: list[dict[str, WrkResult]], granian: list[dict[str, WrkResult]]
) -> dict[str, Any]:
    """granian's table (ratios to the granian baseline) and each row against its gunicorn run."""
    summary = summarize(granian)
    speedup: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        per_round = [
            g[endpoint.name].rps / u[endpoint.name].rps
            for u, g in zip(gunicorn, granian, strict=True)
        ]
        speedup[endpoint.name] = {"per_round": per_round, "median": statistics.median(per_round)}
    app_speedup = statistics.geometric_mean(speedup[name]["median"] for name in app_rows())
    return {
        **summary,
        "settings": config.granian_args,
        "speedup": speedup,
        "app_speedup": app_speedup,
        "min_app_speedup": GRANIAN_GOAL,
        "met": app_speedup >= GRANIAN_GOAL,
    }


def _load_average() -> list[float] | None:
    """The 1/5/15-minute load averages, to tell a quiet machine from a busy one."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _configure() -> tuple[Config, str]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise HarnessError(
            "wrk is not installed (Debian: apt-get install -y wrk); "
            "the harness installs nothing itself."
        )
    return load_config(), wrk


def write_benchmarks(document: Mapping[str, Any]) -> None:
    """BENCHMARKS.md: the table, the sign-in figures, the machine, its load, the commit."""
    load = document["load_average"]
    settings = document["settings"]
    machine = document["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/run.py); every figure is a ratio against a bare Flask app",
        "under the same gunicorn, measured in the same run, because the absolute numbers depend on",
        "the machine and on whatever else it is doing.",
        "",
        f"- commit `{document['git_revision']}`, finished {document['finished_at']}",
        f"- {machine['cpus']} CPUs, Python {machine['python']}, {machine['platform']}",
        f"- load average (1/5/15 min) at start {load['start']}, at end {load['end']}",
        f"- gunicorn `{' '.join(settings['gunicorn'])}`; wrk {settings['wrk']['threads']} threads, "
        f"{settings['wrk']['connections']} connections, {settings['wrk']['duration_s']} s x "
        f"{settings['rounds']} rounds; {settings['posts']} posts, 20 per page; PostgreSQL, Redis",
        "",
        "| endpoint | req/s | p50 ms | p99 ms | ratio to bare Flask (per round) |",
        "|---|---:|---:|---:|---|",
    ]
    for endpoint in ENDPOINTS:
        row = document["endpoints"][endpoint.name]
        ratios = document["ratios"][endpoint.name]
        per_round = ", ".join(f"{r:.3f}" for r in ratios["per_round"])
        lines.append(
            f"| {endpoint.label} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | {row['p99_ms']:.2f} "
            f"| **{ratios['median']:.3f}** ({per_round}) |"
        )
    granian = document.get("granian")
    if granian:
        lines += [
            "",
            f"Under granian (`{' '.join(granian['settings'])}`), the baseline under granian too:",
            "",
            "| endpoint | req/s | p50 ms | p99 ms | ratio to bare Flask | x its gunicorn req/s |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for endpoint in ENDPOINTS:
            row = granian["endpoints"][endpoint.name]
            lines.append(
                f"| {endpoint.label} | {row['rps']:,.0f} | {row['p50_ms']:.2f} | "
                f"{row['p99_ms']:.2f} | **{granian['ratios'][endpoint.name]['median']:.3f}** | "
                f"{granian['speedup'][endpoint.name]['median']:.2f} |"
            )
    login = document["login"]
    busy = document["healthz_under_logins"]
    lines += [
        "",
        "Median of the rounds. The login row counts successful sign-ins; it runs two clients",
        "per worker (the sign-in gate admits one hash and one waiter per process), each",
        "sign-in on a new connection; a refused client pauses 50 ms. Hashes run at nice +5.",
        "The raw rate is measured in each round just before and just after its sign-ins (their",
        "mean); the share is the median of the rounds' shares. `/healthz` under sign-ins is",
        "measured in each round right after its idle `/healthz` row and held to that row's p99.",
        "",
        *(f"- {line}" for line in _verdict(document)),
        "",
        f"- raw argon2id verify rate (m=19 MiB, t=2, p=1, one thread per CPU): "
        f"{login['raw_verify_per_s']:.1f}/s; logins/s {login['logins_per_s']:.1f}; "
        f"**{login['share']:.2f}** of it (goal >= {login['min_share']:.2f})",
        f"- `/healthz` p99 with {busy['logins_in_flight']} sign-ins in flight: "
        f"{busy['p99_ms']:.2f} ms; **{busy['p99_multiple']:.2f}x** the same round's idle p99 "
        f"({busy['idle_p99_ms']:.2f} ms; medians of the rounds, each round "
        f"{', '.join(f'{m:.2f}x' for m in busy['p99_multiple_rounds'])}; "
        f"goal <= {busy['max_multiple']:.0f}x)",
        "",
        *(
            f"![{alt}](docs/img/{name})"
            for name, alt in PLOTS
            if (ROOT / "docs" / "img" / name).exists()
        ),
        "",
    ]
    BENCHMARKS_FILE.write_text("\n".join(lines), encoding="utf-8")


def _report(document: Mapping[str, Any]) -> None:
    print_table(document)
    if document.get("granian"):
        print_granian_table(document["granian"])
    for path in write_plots(document, load_jobs()):
        print(f"plot: {path.relative_to(ROOT)}")
    write_benchmarks(document)
    print(f"published: {BENCHMARKS_FILE.relative_to(ROOT)}")


def _verdict(document: Mapping[str, Any]) -> list[str]:
    goal = document["goal"]
    verdict = "PASS" if goal["met"] else "MISSED"
    login = document["login"]
    busy = document["healthz_under_logins"]
    lines = [
        f"{document['endpoints'][name]['label']}: {row['ratio']:.2f} of baseline "
        f"(goal >= {row['min_ratio']:.2f}): " + ("PASS" if row["met"] else "MISSED")
        for name, row in document.get("row_goals", {}).items()
    ]
    granian = document.get("granian")
    if granian:
        lines.append(
            f"granian: the app's rows at {granian['app_speedup']:.2f}x their gunicorn req/s "
            f"(geometric mean of {', '.join(app_rows())}; goal >= "
            f"{granian['min_app_speedup']:.2f}x): " + ("PASS" if granian["met"] else "MISSED")
        )
    return lines + [
        f"login: {login['logins_per_s']:.1f} logins/s, {login['share']:.2f} of the raw argon2id "
        f"verify rate ({login['raw_verify_per_s']:.1f}/s; median of the rounds) "
        f"(goal >= {login['min_share']:.2f}): " + ("PASS" if login["met"] else "MISSED"),
        f"healthz p99 with {busy['logins_in_flight']} logins in flight: {busy['p99_ms']:.2f} ms, "
        f"{busy['p99_multiple']:.2f}x the same round's idle p99 ({busy['idle_p99_ms']:.2f} ms; "
        "median of the rounds) "
        f"(goal <= {busy['max_multiple']:.0f}x): " + ("PASS" if busy["met"] else "MISSED"),
        f"posts list ({GOAL_VARIANT}): {goal['ratio']:.2f} of baseline "
        f"(goal >= {GOAL_RATIO:.2f}): {verdict}",
    ]


def main() -> int:
    return run_harness(
        "bench",
        configure=_configure,
        measure=lambda setup, workdir: benchmark(setup[0], setup[1], workdir),
        report=_report,
        verdict=_verdict,
        results_file=RESULTS_FILE,
    )


if __name__ == "__main__":
    sys.exit(main())
