"""Benchmark ordinary requests while many job event streams are open, in one run.

Steps: (re)create the ``flaskyard_bench_streams`` database, migrate, seed 1,000 posts and the
login user, start three gunicorns under ``bench/run.py``'s shared settings (2 workers x 4
threads): two identical ones with the shipped worker class
(``flaskyard.boot.gthread.HandoffWorker``, as ``gunicorn.conf.py`` sets it) and one with plain
``gthread``. On the first, the login user queues 10 demo jobs that no worker runs and opens
BENCH_STREAMS (1,000) streams on them, each read to its first event and then kept open
(RLIMIT_NOFILE is raised to its hard limit here and in the workers); that server's worker RSS
before and after gives the memory per open stream.

Then ``wrk --latency`` drives ``GET /api/v1/posts?per_page=20`` on each server in turn, for
BENCH_ROUNDS interleaved rounds (the order reversed every other round), so a machine whose
load swings treats the three alike; afterwards every stream must still be open. Printed per
run: req/s, p50, p99. The verdicts, medians over rounds of per-round figures: posts req/s on
the server holding the streams / on its twin without (goal >= 0.70), and p99 on the server
holding the streams (goal < 250 ms); also the shipped worker / plain ``gthread`` without
streams (the handoff must cost ordinary requests nothing). Results go to
``bench/results/streams-latest.json``.

The app runs with ``EVENTS_MAX_STREAMS_PER_USER`` raised to BENCH_STREAMS (one user opens
them all; the shipped cap is per user) and ``REQUIRE_VERIFIED_EMAIL=false``; every other
setting is the production default. The jobs are cancelled at the end.

Exit status: 0 when measured (goal met or not), 1 on a harness error, 130 on Ctrl-C.

Settings (environment): BENCH_STREAMS (1000), BENCH_DB (flaskyard_bench_streams), and
``bench/run.py``'s BENCH_DURATION, BENCH_WARMUP, BENCH_ROUNDS, BENCH_CONNECTIONS,
BENCH_WRK_THREADS, BENCH_WORKERS, BENCH_THREADS, BENCH_POSTS, BENCH_PG_*, BENCH_REDIS_URL.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import socket
import statistics
import sys
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from harness import HarnessError, run_harness
from run import (
    BENCH_DIR,
    LOOPBACK,
    POSTS_PATH,
    Config,
    Server,
    WrkResult,
    _load_average,
    _positive_int,
    app_environment,
    clean_environment,
    drop_database,
    http_request,
    load_config,
    log_in,
    make_login,
    provenance,
    recreate_database,
    run_step,
    run_wrk,
    settle,
    start_server,
    stop_server,
    wait_ready,
)

RESULTS_FILE = BENCH_DIR / "results" / "streams-latest.json"
SHIPPED_WORKER = "flaskyard.boot.gthread.HandoffWorker"
DEFAULT_DB = "flaskyard_bench_streams"
GOAL_RATIO = 0.70
GOAL_P99_MS = 250.0
FIRST_EVENT = b"event: job"
OPEN_TIMEOUT_S = 30.0
#: Streams opened at once by this process (each opening is an ordinary request).
OPENERS = 8
#: The three servers, in the order each round measures them.
LABELS = {
    "gthread": "plain gthread, no streams",
    "no_streams": "shipped worker, no streams",
    "streams": "shipped worker, streams open",
}


def _raise_open_files_limit(needed: int) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        soft = hard
    if soft != resource.RLIM_INFINITY and soft < needed:
        raise HarnessError(
            f"{needed} open files are needed, and the hard limit is {soft}: "
            f"raise it (ulimit -Hn) or lower BENCH_STREAMS."
        )
    return int(soft)


def _rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            status = Path(f"/proc/{pid}/status").read_text(encoding="utf-8")
        except OSError:
            continue
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                total += int(line.split()[1])
    return total


def _workers(server: Server) -> list[int]:
    found: list[int] = []
    for task in Path(f"/proc/{server.process.pid}/task").glob("*"):
        try:
            found.extend(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def _open_stream(server: Server, token: str, job_id: str) -> socket.socket:
    sock = socket.create_connection((LOOPBACK, server.port), timeout=OPEN_TIMEOUT_S)
    request = (
        f"GET /api/v1/jobs/{job_id}/events HTTP/1.1\r\nHost: {LOOPBACK}:{server.port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n"
    )
    sock.sendall(request.encode())
    data = b""
    while FIRST_EVENT not in data:
        chunk = sock.recv(65536)
        if not chunk:
            sock.close()
            raise HarnessError(f"A stream closed before its first event: {data[:300]!r}")
        data += chunk
    if not data.startswith(b"HTTP/1.1 200"):
        sock.close()
        raise HarnessError(f"A stream was refused: {data[:300]!r}")
    sock.setblocking(False)
    return sock


def _still_open(sock: socket.socket) -> bool:
    try:
        while sock.recv(65536):
            pass  # heartbeats
    except BlockingIOError:
        return True
    except OSError:
        return False
    return False  # EOF


@contextmanager
def _streams(
    server: Server, token: str, job_ids: list[str], count: int
) -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    try:
        with ThreadPoolExecutor(max_workers=OPENERS) as pool:
            futures = [
                pool.submit(_open_stream, server, token, job_ids[n % len(job_ids)])
                for n in range(count)
            ]
            for future in futures:
                opened.append(future.result())
        yield opened
    finally:
        for sock in opened:
            sock.close()


def _queue_jobs(server: Server, token: str, count: int) -> list[str]:
    ids = []
    body = json.dumps({"type": "demo", "params": {"seconds": 600, "steps": 1}}).encode()
    for _ in range(count):
        status, answer = http_request(
            server,
            "POST",
            "/api/v1/jobs",
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            body=body,
        )
        if status != 202:
            raise HarnessError(f"POST /api/v1/jobs answered HTTP {status}: {answer[:300]!r}")
        ids.append(json.loads(answer)["id"])
    return ids


def _cancel_jobs(server: Server, token: str, job_ids: list[str]) -> None:
    for job_id in job_ids:
        http_request(
            server, "DELETE", f"/api/v1/jobs/{job_id}", headers={"Authorization": f"Bearer {token}"}
        )


def _line(label: str, result: WrkResult) -> None:
    print(
        f"  {label:<45} {result.rps:>7.0f} req/s  p50 {result.p50_ms:6.2f} ms"
        f"  p99 {result.p99_ms:7.2f} ms"
    )


def _median(values: list[float]) -> float:
    return float(statistics.median(values))


def benchmark(setup: tuple[Config, str, int], workdir: Path) -> dict[str, Any]:
    """Prepare, measure, and return the results document."""
    config, wrk, streams = setup
    limit = _raise_open_files_limit(streams + 256)
    base_env = clean_environment()
    app_env = {
        **app_environment(config, base_env, workdir / "instance"),
        "EVENTS_MAX_STREAMS_PER_USER": str(streams),
        "REQUIRE_VERIFIED_EMAIL": "false",
    }
    print(f"bench-streams: database {config.db_name}, logs in {workdir}, open files {limit}")
    load_at_start = _load_average()
    recreate_database(config)
    login = make_login(workdir)
    servers: dict[str, Server] = {}
    rounds: list[dict[str, WrkResult]] = []
    try:
        flask = [sys.executable, "-m", "flask", "--app", "flaskyard"]
        run_step("flask db upgrade", [*flask, "db", "upgrade"], app_env, workdir, workdir / "m.log")
        seed = [
            sys.executable, str(BENCH_DIR / "seed.py"),
            "--posts", str(config.posts), "--login-user", login.username,
        ]  # fmt: skip
        env = {**app_env, "BENCH_LOGIN_PASSWORD": login.password}
        run_step("seeding", seed, env, workdir, workdir / "seed.log")
        app = ["flaskyard:create_app()"]
        shipped = ["--worker-class", SHIPPED_WORKER, *app]
        for name, target in (("streams", shipped), ("no_streams", shipped), ("gthread", app)):
            servers[name] = start_server(name, config, target, app_env, workdir)
        for server in servers.values():
            wait_ready(server, "/healthz")
        print(
            f"bench-streams: gunicorn {' '.join(config.gunicorn_args)}; wrk -t{config.wrk_threads}"
            f" -c{config.connections} -d{config.duration_s}s on {POSTS_PATH} x {config.rounds}"
            f" rounds; {streams} streams open on one of two identical servers"
        )

        def measure(server: Server, seconds: int) -> WrkResult:
            result = run_wrk(wrk, config, server.base_url + POSTS_PATH, seconds)
            settle(server, "/healthz")
            return result

        holder = servers["streams"]
        token = log_in(holder, login)
        job_ids = _queue_jobs(holder, token, 10)
        workers = _workers(holder)
        rss_before = _rss_kib(workers)
        began = time.monotonic()
        with _streams(holder, token, job_ids, streams) as opened:
            opening_s = time.monotonic() - began
            time.sleep(1.0)  # let the loop settle its buffers
            rss_after = _rss_kib(workers)
            print(f"  {streams} streams open in {opening_s:.1f} s")
            for server in servers.values():
                measure(server, config.warmup_s)
            # Interleaved, so a machine whose load swings treats every server alike.
            for number in range(1, config.rounds + 1):
                order = list(servers) if number % 2 else list(reversed(servers))
                measured = {name: measure(servers[name], config.duration_s) for name in order}
                for name, label in LABELS.items():
                    _line(f"round {number}/{config.rounds} {label}", measured[name])
                rounds.append(measured)
            open_after = sum(1 for sock in opened if _still_open(sock))
        if open_after != streams:
            raise HarnessError(f"Only {open_after} of {streams} streams stayed open.")
        _cancel_jobs(holder, log_in(holder, login), job_ids)
        for server in servers.values():
            if server.process.poll() is not None:
                raise HarnessError(f"The {server.name} server died during the run.")
    finally:
        for server in servers.values():
            stop_server(server)
        drop_database(config)

    ratio = _median([r["streams"].rps / r["no_streams"].rps for r in rounds])
    shipped_vs_plain = _median([r["no_streams"].rps / r["gthread"].rps for r in rounds])
    p99 = _median([r["streams"].p99_ms for r in rounds])
    twin_p99 = _median([r["no_streams"].p99_ms for r in rounds])
    per_stream_kib = (rss_after - rss_before) / streams
    return {
        **provenance(),
        "settings": {
            "gunicorn": config.gunicorn_args,
            "worker_class": SHIPPED_WORKER,
            "wrk": {
                "threads": config.wrk_threads,
                "connections": config.connections,
                "duration_s": config.duration_s,
                "warmup_s": config.warmup_s,
            },
            "rounds": config.rounds,
            "streams": streams,
            "jobs": len(job_ids),
            "posts": config.posts,
        },
        "load_average": {"start": load_at_start, "end": _load_average()},
        "rounds": [{name: asdict(result) for name, result in r.items()} for r in rounds],
        "streams": {
            "opened": streams,
            "opening_s": opening_s,
            "open_after": open_after,
            "worker_rss_kib": {"before": rss_before, "after": rss_after},
            "kib_per_stream": per_stream_kib,
        },
        "shipped_vs_plain": shipped_vs_plain,
        "goal": {
            "min_ratio": GOAL_RATIO,
            "ratio": ratio,
            "max_p99_ms": GOAL_P99_MS,
            "p99_ms": p99,
            "twin_p99_ms": twin_p99,
            "met": ratio >= GOAL_RATIO and p99 < GOAL_P99_MS,
        },
    }


def _configure() -> tuple[Config, str, int]:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise HarnessError("wrk is not installed (Debian: apt-get install -y wrk).")
    config = load_config()
    if "BENCH_DB" not in os.environ:  # its own database, so it may run beside bench/run.py
        config = replace(config, db_name=DEFAULT_DB)
    return config, wrk, _positive_int("BENCH_STREAMS", 1000)


def _report(document: Mapping[str, Any]) -> None:
    streams = document["streams"]
    print(
        f"\nmemory: worker RSS {streams['worker_rss_kib']['before'] / 1024:.1f} MiB -> "
        f"{streams['worker_rss_kib']['after'] / 1024:.1f} MiB, "
        f"{streams['kib_per_stream']:.1f} KiB per open stream"
    )
    print(f"shipped worker / plain gthread, no streams: {document['shipped_vs_plain']:.2f}")


def _verdict(document: Mapping[str, Any]) -> list[str]:
    goal = document["goal"]
    streams = document["streams"]["opened"]
    ratio_ok = "PASS" if goal["ratio"] >= GOAL_RATIO else "MISSED"
    p99_ok = "PASS" if goal["p99_ms"] < GOAL_P99_MS else "MISSED"
    return [
        f"posts req/s with {streams} streams / without: {goal['ratio']:.2f} "
        f"(goal >= {GOAL_RATIO:.2f}): {ratio_ok}",
        f"posts p99 with {streams} streams: {goal['p99_ms']:.1f} ms, its twin without: "
        f"{goal['twin_p99_ms']:.1f} ms (goal < {GOAL_P99_MS:.0f} ms): {p99_ok}",
    ]


def main() -> int:
    return run_harness(
        "bench-streams",
        configure=_configure,
        measure=benchmark,
        report=_report,
        verdict=_verdict,
        results_file=RESULTS_FILE,
    )


if __name__ == "__main__":
    sys.exit(main())
