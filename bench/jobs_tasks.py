"""The job functions ``bench/jobs.py`` enqueues; workers import them as ``jobs_tasks.<name>``.

They live in their own small module (on the workers' ``PYTHONPATH`` via ``bench/``) so that a
worker imports nothing the benchmark does not need.

``write_row`` uses a module-level SQLAlchemy engine created on first use in the process that
runs the job. In a worker that runs jobs in-process that is one engine and one connection for
every job; under RQ's forking ``Worker`` every job runs in a fresh work horse that never had
the engine, so each job opens (and drops) its own Postgres connection: the real cost of forking
for jobs that touch the database.
"""

from __future__ import annotations

import os

import sqlalchemy as sa

#: Where ``write_row`` writes; ``bench/jobs.py`` sets it for the worker processes.
DATABASE_URL_ENV = "BENCH_JOBS_DATABASE_URL"
TABLE = "bench_rows"

INSERT = f"INSERT INTO {TABLE} (n, pid, backend_pid) VALUES (:n, :pid, pg_backend_pid())"  # noqa: S608 - constants only

_engine: sa.Engine | None = None


def noop() -> None:
    """Do nothing: the job is all overhead."""


def _get_engine() -> sa.Engine:
    global _engine
    if _engine is None:
        _engine = sa.create_engine(os.environ[DATABASE_URL_ENV], pool_size=1, max_overflow=0)
    return _engine


def write_row(n: int) -> None:
    """Insert one row (with the process and Postgres backend that wrote it) and commit."""
    with _get_engine().begin() as conn:
        conn.execute(
            sa.text(INSERT),
            {"n": n, "pid": os.getpid()},
        )
