"""Benchmark job throughput: plain RQ ``rq.Worker`` against Flaskyard's worker, in one run.

Two workloads, each run once per side and round (plain first in odd rounds, Flaskyard first in
even ones):

* ``noop``: 2,000 jobs that do nothing (``jobs_tasks.noop``), so the job is all overhead;
* ``db``: 200 jobs that each insert one row into Postgres and commit (``jobs_tasks.write_row``,
  a module-level SQLAlchemy engine created lazily in the process running the job).

For each run, every job is enqueued first (one pipeline), then ONE worker process is started in
burst mode and waited for:

* plain: ``python -m rq.cli worker --burst --quiet --with-scheduler -c jobs_rq_settings
  --url <redis> default``; RQ's default ``Worker`` forks a work horse per job. The settings
  module ``bench/jobs_rq_settings.py`` preloads the job module (and SQLAlchemy) in the parent,
  so horses do not import it again per job (a bare ``rq worker`` would: ~0.25 s per job here);
  this favours plain RQ and leaves fork + per-job connection as the difference;
* Flaskyard: ``python -m flask --app flaskyard worker --burst --queues default``, i.e.
  ``flaskyard.worker.run_worker``: a ``FlaskyardWorker`` inside the app that runs the
  ``default`` queue in-process (``WORKER_INLINE_QUEUES``), with ``APP_ENV=production``.

Afterwards every job is fetched and must be ``finished``. Reported per run:

* jobs/s = jobs / (last ``ended_at`` - the moment the worker process was spawned): what a
  burst of work costs end to end, worker start-up included;
* exec jobs/s = jobs / (last ``ended_at`` - first ``started_at``): pure execution throughput;
* start-up = first ``started_at`` - spawn;
* enqueue->start p50/p99 = ``started_at - enqueued_at`` over all jobs. Because everything is
  enqueued before the worker starts, this is mostly time spent waiting in the queue (start-up
  plus the jobs ahead), so it tracks throughput; it is not an idle-queue pickup latency.

The ratio Flaskyard/plain of jobs/s is taken within a round, then the median over rounds; the
goal is >= 3x on the no-op jobs. Results go to ``bench/results/jobs-latest.json``.

Isolation: the bench's Redis database (default db 14, the one ``bench/run.py``'s app uses; run
the two one after the other, not at once), flushed at start and end; the harness refuses to
flush one that holds persistent keys other than RQ's; and a fresh Postgres database
``flaskyard_bench_jobs`` (dropped at the end). Exit status: 0 when measured (goal met or not),
1 on a harness error, 130 on Ctrl-C.

Settings (environment): BENCH_JOBS_NOOP (2000), BENCH_JOBS_DB (200), BENCH_JOBS_ROUNDS (1),
BENCH_JOBS_REDIS_URL (redis://127.0.0.1:6379/12), BENCH_JOBS_DB_NAME (flaskyard_bench_jobs),
BENCH_PG_HOST (127.0.0.1), BENCH_PG_PORT (5432), BENCH_PG_USER (postgres).
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import run
from harness import HarnessError, run_harness
from jobs_tasks import DATABASE_URL_ENV, TABLE
from psycopg import sql
from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from run import (
    BENCH_DIR,
    _load_average,
    _positive_int,
    _require_loopback,
    clean_environment,
    pg_connect,
    provenance,
    tail,
)

from flaskyard.config import Settings

RESULTS_FILE = BENCH_DIR / "results" / "jobs-latest.json"
QUEUE = "default"
GOAL_WORKLOAD = "noop"
GOAL_RATIO = 3.0
WORKER_TIMEOUT_S = 600
#: Kept long enough to read every job back after its run.
RESULT_TTL_S = 3600
SIDES = ("plain", "flaskyard")
SIDE_LABELS = {
    "plain": "plain rq.Worker (fork per job)",
    "flaskyard": "FlaskyardWorker (default in-process)",
}


@dataclass(frozen=True)
class Workload:
    name: str
    func: str
    jobs: int
    description: str


@dataclass(frozen=True)
class JobsConfig:
    rounds: int
    noop_jobs: int
    db_jobs: int
    redis_url: str
    pg_host: str
    pg_port: int
    pg_user: str
    db_name: str

    @property
    def database_url(self) -> str:
        return f"postgresql+psycopg://{self.pg_user}@{self.pg_host}:{self.pg_port}/{self.db_name}"

    @property
    def workloads(self) -> tuple[Workload, ...]:
        return (
            Workload("noop", "jobs_tasks.noop", self.noop_jobs, "no-op jobs"),
            Workload("db", "jobs_tasks.write_row", self.db_jobs, "jobs writing a Postgres row"),
        )


@dataclass
class RunResult:
    """One worker draining one workload."""

    side: str
    workload: str
    jobs: int
    wall_s: float
    jobs_per_s: float
    startup_s: float
    exec_s: float
    exec_jobs_per_s: float
    latency_p50_ms: float
    latency_p99_ms: float
    process_exit_s: float
    processes: int | None = None
    db_connections: int | None = None


def load_config() -> JobsConfig:
    redis_url = os.environ.get("BENCH_JOBS_REDIS_URL", "redis://127.0.0.1:6379/12")
    _require_loopback("BENCH_JOBS_REDIS_URL", urlsplit(redis_url).hostname or "")
    db_name = os.environ.get("BENCH_JOBS_DB_NAME", "flaskyard_bench_jobs")
    if not re.fullmatch(r"[a-z_][a-z0-9_]*bench[a-z0-9_]*", db_name):
        raise HarnessError(
            f"BENCH_JOBS_DB_NAME must be a plain name containing 'bench', not {db_name!r}."
        )
    return JobsConfig(
        rounds=_positive_int("BENCH_JOBS_ROUNDS", 1),
        noop_jobs=_positive_int("BENCH_JOBS_NOOP", 2000),
        db_jobs=_positive_int("BENCH_JOBS_DB", 200),
        redis_url=redis_url,
        pg_host=_require_loopback("BENCH_PG_HOST", os.environ.get("BENCH_PG_HOST", "127.0.0.1")),
        pg_port=_positive_int("BENCH_PG_PORT", 5432),
        pg_user=os.environ.get("BENCH_PG_USER", "postgres"),
        db_name=db_name,
    )


# --------------------------------------------------------------------------- stores


def recreate_database(config: JobsConfig) -> None:
    """A fresh bench database with the one table ``write_row`` fills."""
    run.recreate_database(config)
    with pg_connect(config, config.db_name) as conn:
        conn.execute(
            sql.SQL(
                "CREATE TABLE {} (id bigserial PRIMARY KEY, n integer NOT NULL, "
                "pid integer NOT NULL, backend_pid integer NOT NULL, "
                "written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            ).format(sql.Identifier(TABLE))
        )


def table_stats(config: JobsConfig) -> tuple[int, int, int]:
    """Rows, distinct writer processes and distinct Postgres backends; then empty the table."""
    with pg_connect(config, config.db_name) as conn:
        row = conn.execute(
            sql.SQL(
                "SELECT count(*), count(DISTINCT pid), count(DISTINCT backend_pid) FROM {}"
            ).format(sql.Identifier(TABLE))
        ).fetchone()
        conn.execute(sql.SQL("TRUNCATE {}").format(sql.Identifier(TABLE)))
    if row is None:
        raise HarnessError(f"Could not count the rows of {TABLE}.")
    return int(row[0]), int(row[1]), int(row[2])


def redis_client(config: JobsConfig) -> Redis:
    client = Redis.from_url(config.redis_url)
    try:
        client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure means no Redis to bench on
        raise HarnessError(f"Cannot reach Redis at {config.redis_url}: {exc}") from exc
    return client


def flush_bench_redis(client: Redis, *, check: bool) -> None:
    """Empty the bench Redis database.

    With ``check``, first refuse when it holds persistent keys other than RQ's: that is
    somebody's data. Keys with a TTL (what ``bench/run.py``'s app leaves behind: rate-limit
    windows, revoked token ids) and ``rq:*`` keys of an interrupted run are fair game.
    """
    if check:
        for key in client.scan_iter(count=1000):
            if not key.startswith(b"rq:") and client.ttl(key) == -1:
                db = client.connection_pool.connection_kwargs.get("db")
                raise HarnessError(
                    f"Redis db {db} holds {key!r}, a persistent key that is not RQ's; it may be in "
                    "use, so it is not flushed. Set BENCH_JOBS_REDIS_URL to an unused database."
                )
    client.flushdb()


# --------------------------------------------------------------------------- runs


def worker_argv(side: str, config: JobsConfig) -> list[str]:
    if side == "plain":
        return [
            sys.executable, "-m", "rq.cli", "worker",
            "--burst", "--quiet", "--with-scheduler", "-c", "jobs_rq_settings",
            "--url", config.redis_url,
            QUEUE,
        ]  # fmt: skip
    return [
        sys.executable, "-m", "flask", "--app", "flaskyard", "worker",
        "--burst", "--queues", QUEUE,
    ]  # fmt: skip


def worker_env(side: str, config: JobsConfig, base: Mapping[str, str]) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(BENCH_DIR), base.get("PYTHONPATH", "")) if p)
    env = {**base, "PYTHONPATH": path, DATABASE_URL_ENV: config.database_url}
    if side == "flaskyard":
        env.update(
            {
                "APP_ENV": "production",
                "SECRET_KEY": secrets.token_urlsafe(48),
                "JWT_SECRET_KEY": secrets.token_urlsafe(48),
                "DATABASE_URL": config.database_url,
                "REDIS_URL": config.redis_url,
                "GUNICORN_WORKERS": "1",
                "LOG_LEVEL": "WARNING",
            }
        )
    return env


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def run_once(
    side: str,
    workload: Workload,
    config: JobsConfig,
    client: Redis,
    base_env: Mapping[str, str],
    workdir: Path,
    number: int,
) -> RunResult:
    """Enqueue the workload, start one burst worker, wait, and read every job back."""
    flush_bench_redis(client, check=False)
    queue = Queue(QUEUE, connection=client)
    datas = [
        Queue.prepare_data(workload.func, args=(i,) if workload.name == "db" else (), timeout=60,
                           result_ttl=RESULT_TTL_S)
        for i in range(workload.jobs)
    ]  # fmt: skip
    ids = [job.id for job in queue.enqueue_many(datas)]
    if queue.count != workload.jobs:
        raise HarnessError(f"Enqueued {queue.count} jobs, expected {workload.jobs}.")

    instance = workdir / "instance"
    log_path = workdir / f"{side}-{workload.name}-{number}.log"
    env = worker_env(side, config, base_env)
    env["INSTANCE_DIR"] = str(instance)
    with log_path.open("w", encoding="utf-8") as log:
        spawned = time.time()
        process = subprocess.Popen(
            worker_argv(side, config),
            env=env,
            cwd=workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            code = process.wait(timeout=WORKER_TIMEOUT_S)
        except subprocess.TimeoutExpired as exc:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            raise HarnessError(
                f"The {side} worker did not drain {workload.jobs} jobs within "
                f"{WORKER_TIMEOUT_S} s:\n{tail(log_path)}"
            ) from exc
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        exited = time.time()
    if code != 0:
        raise HarnessError(f"The {side} worker exited with {code}:\n{tail(log_path)}")

    jobs = Job.fetch_many(ids, connection=client)
    unfinished = [
        (job_id, job.get_status() if job else None)
        for job_id, job in zip(ids, jobs, strict=True)
        if job is None or job.get_status() != JobStatus.FINISHED
    ]
    if unfinished:
        raise HarnessError(
            f"{len(unfinished)} of {workload.jobs} {workload.name} jobs did not finish on the "
            f"{side} worker (first: {unfinished[0]}):\n{tail(log_path)}"
        )
    started = [job.started_at.timestamp() for job in jobs if job and job.started_at]
    ended = [job.ended_at.timestamp() for job in jobs if job and job.ended_at]
    waits = [
        (job.started_at - job.enqueued_at).total_seconds()
        for job in jobs
        if job and job.started_at and job.enqueued_at
    ]
    if not (len(started) == len(ended) == len(waits) == workload.jobs):
        raise HarnessError(f"Some {side} jobs lack enqueued_at/started_at/ended_at timestamps.")
    wall = max(ended) - spawned
    execution = max(ended) - min(started)
    result = RunResult(
        side=side,
        workload=workload.name,
        jobs=workload.jobs,
        wall_s=wall,
        jobs_per_s=workload.jobs / wall,
        startup_s=min(started) - spawned,
        exec_s=execution,
        exec_jobs_per_s=workload.jobs / execution if execution > 0 else float("inf"),
        latency_p50_ms=_ms(_percentile(waits, 0.50)),
        latency_p99_ms=_ms(_percentile(waits, 0.99)),
        process_exit_s=exited - spawned,
    )
    if workload.name == "db":
        rows, processes, backends = table_stats(config)
        if rows != workload.jobs:
            raise HarnessError(f"The {side} worker wrote {rows} rows, expected {workload.jobs}.")
        result.processes, result.db_connections = processes, backends
    flush_bench_redis(client, check=False)
    return result


# --------------------------------------------------------------------------- report


def summarize(config: JobsConfig, runs: list[RunResult]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for workload in config.workloads:
        sides: dict[str, Any] = {}
        for side in SIDES:
            mine = [r for r in runs if r.side == side and r.workload == workload.name]
            sides[side] = {
                field: statistics.median(getattr(r, field) for r in mine)
                for field in (
                    "jobs_per_s",
                    "exec_jobs_per_s",
                    "wall_s",
                    "startup_s",
                    "latency_p50_ms",
                    "latency_p99_ms",
                )
            }
            sides[side]["processes"] = mine[-1].processes
            sides[side]["db_connections"] = mine[-1].db_connections
        plain = [r for r in runs if r.side == "plain" and r.workload == workload.name]
        ours = [r for r in runs if r.side == "flaskyard" and r.workload == workload.name]
        ratio = statistics.median(
            o.jobs_per_s / p.jobs_per_s for o, p in zip(ours, plain, strict=True)
        )
        exec_ratio = statistics.median(
            o.exec_jobs_per_s / p.exec_jobs_per_s for o, p in zip(ours, plain, strict=True)
        )
        out[workload.name] = {
            "jobs": workload.jobs,
            "description": workload.description,
            "sides": sides,
            "ratio_jobs_per_s": ratio,
            "ratio_exec_jobs_per_s": exec_ratio,
        }
    return out


def print_report(summary: Mapping[str, Any]) -> None:
    header = (
        f"{'workload / worker':<48} {'jobs/s':>8} {'exec/s':>8} {'start s':>7} "
        f"{'p50 ms':>8} {'p99 ms':>8}"
    )
    print()
    print(header)
    print("-" * len(header))
    for name, block in summary.items():
        for side in SIDES:
            row = block["sides"][side]
            label = f"{block['jobs']} {name}: {SIDE_LABELS[side]}"
            extra = ""
            if row["processes"] is not None:
                extra = f"  ({row['processes']} procs, {row['db_connections']} PG conns)"
            print(
                f"{label:<48} {row['jobs_per_s']:>8.0f} {row['exec_jobs_per_s']:>8.0f} "
                f"{row['startup_s']:>7.2f} {row['latency_p50_ms']:>8.0f} "
                f"{row['latency_p99_ms']:>8.0f}{extra}"
            )
        print(
            f"{'':<4}ratio Flaskyard/plain: jobs/s {block['ratio_jobs_per_s']:.2f}x, "
            f"exec/s {block['ratio_exec_jobs_per_s']:.2f}x"
        )
    print(
        "(jobs/s: from spawning the worker to the last job ended, start-up included; exec/s:"
        " first start to last end;\n p50/p99: enqueued_at -> started_at with the whole batch"
        " enqueued before the worker starts, so mostly queue wait)"
    )
    print(
        "db jobs: a module-level engine made lazily in the job's process; the forking worker's"
        " horses each open a new\n Postgres connection per job (see PG conns), the in-process"
        " worker reuses one."
    )
    print(
        "plain rq worker preloads the job module in its parent (-c jobs_rq_settings), so horses"
        " skip the per-job import."
    )


def _inline_default() -> str:
    return str(Settings.model_fields["WORKER_INLINE_QUEUES"].default)


def benchmark(config: JobsConfig, workdir: Path) -> dict[str, Any]:
    load_at_start = _load_average()
    client = redis_client(config)
    flush_bench_redis(client, check=True)
    base_env = clean_environment()
    print(
        f"bench-jobs: Redis {config.redis_url}, database {config.db_name} on "
        f"{config.pg_host}:{config.pg_port}, logs in {workdir}"
    )
    runs: list[RunResult] = []
    recreate_database(config)
    try:
        for number in range(1, config.rounds + 1):
            order = SIDES if number % 2 else tuple(reversed(SIDES))
            for workload in config.workloads:
                for side in order:
                    result = run_once(side, workload, config, client, base_env, workdir, number)
                    runs.append(result)
                    print(
                        f"  round {number}/{config.rounds} {workload.name:<4} {side:<9} "
                        f"{result.jobs_per_s:>7.0f} jobs/s  exec {result.exec_jobs_per_s:>7.0f}/s"
                        f"  start-up {result.startup_s:5.2f} s"
                        f"  p50 {result.latency_p50_ms:7.0f} ms"
                        f"  p99 {result.latency_p99_ms:7.0f} ms"
                    )
    finally:
        try:
            flush_bench_redis(client, check=False)
        finally:
            client.close()
            run.drop_database(config)
    summary = summarize(config, runs)
    ratio = summary[GOAL_WORKLOAD]["ratio_jobs_per_s"]
    return {
        **provenance(),
        "load_average": {"start": load_at_start, "end": _load_average()},
        "settings": {
            "rounds": config.rounds,
            "queue": QUEUE,
            "plain_worker": " ".join(worker_argv("plain", config)[1:]),
            "flaskyard_worker": " ".join(worker_argv("flaskyard", config)[1:]),
            "inline_queues_default": _inline_default(),
        },
        "workloads": summary,
        "runs": [asdict(r) for r in runs],
        "goal": {
            "workload": GOAL_WORKLOAD,
            "metric": "jobs_per_s",
            "min_ratio": GOAL_RATIO,
            "ratio": ratio,
            "met": ratio >= GOAL_RATIO,
        },
    }


def _report(document: Mapping[str, Any]) -> None:
    print_report(document["workloads"])
    inline = document["settings"]["inline_queues_default"]
    print(
        f"\ncrash isolation: only WORKER_INLINE_QUEUES ({inline}) run in-process; `low` (exports,"
        " imports, thumbnails)\nstill forks a work horse per job in Flaskyard's worker (stated,"
        " not measured here)."
    )


def _verdict(document: Mapping[str, Any]) -> list[str]:
    goal = document["goal"]
    verdict = "PASS" if goal["met"] else "MISSED"
    jobs: int = document["workloads"][GOAL_WORKLOAD]["jobs"]
    return [
        f"jobs/s on {jobs} no-op jobs, Flaskyard/plain: {goal['ratio']:.2f}x "
        f"(goal >= {GOAL_RATIO:.0f}x): {verdict}"
    ]


def main() -> int:
    return run_harness(
        "bench-jobs",
        configure=load_config,
        measure=benchmark,
        report=_report,
        verdict=_verdict,
        results_file=RESULTS_FILE,
    )


if __name__ == "__main__":
    sys.exit(main())
