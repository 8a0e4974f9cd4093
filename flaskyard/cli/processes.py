"""Process commands: ``worker`` (RQ worker), ``scheduler`` (RQ scheduler), ``restart-workers``."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext

from flaskyard.broker import QUEUE_NAMES, get_redis
from flaskyard.settings import current_settings

#: Process names a pid file may belong to; anything else is a stale file pointing at a reused pid.
SERVER_NAMES = ("gunicorn", "granian")


def _server_pid(pid_file: Path) -> int:
    try:
        text = pid_file.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        raise click.ClickException(
            f"No pid file at {pid_file}: is the web server running here? "
            "(GUNICORN_PID_FILE names it; run this inside the web container.)"
        ) from None
    except OSError as exc:
        raise click.ClickException(f"Cannot read the pid file {pid_file}: {exc.strerror}.") from exc
    if not text.isdigit():
        raise click.ClickException(f"The pid file {pid_file} does not hold a process id.")
    pid = int(text)
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except FileNotFoundError:
        raise click.ClickException(
            f"The server process {pid} named in {pid_file} is gone; the pid file is stale."
        ) from None
    except OSError:
        cmdline = ""  # no /proc (macOS): trust the file, os.kill still checks the process exists
    if cmdline and not any(name in cmdline for name in SERVER_NAMES):
        raise click.ClickException(
            f"Process {pid} named in {pid_file} is not a web server; the pid file is stale."
        )
    return pid


@click.command("restart-workers")
@with_appcontext
def restart_workers() -> None:
    """Reload the web server's workers gracefully (SIGHUP to the master via its pid file)."""
    pid_file = current_settings().GUNICORN_PID_FILE
    pid = _server_pid(pid_file)
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise click.ClickException(
            f"The server process {pid} named in {pid_file} is gone; the pid file is stale."
        ) from None
    except PermissionError:
        raise click.ClickException(
            f"Not allowed to signal process {pid}: run this as the user the server runs as."
        ) from None
    click.echo(f"Sent SIGHUP to the web server (pid {pid}): workers restart gracefully.")


@click.command("scheduler")
@with_appcontext
@click.option(
    "--interval",
    default=1,
    type=click.IntRange(min=1),
    show_default=True,
    help="Seconds between scans.",
)
def scheduler(interval: int) -> None:
    """Move due scheduled and retried jobs onto their queues (RQ's scheduler, no job runs here)."""
    connection = get_redis()
    if connection is None:
        raise click.ClickException("REDIS_URL is not set, so there is nothing to schedule.")
    from rq.scheduler import RQScheduler  # import cost: only this command needs it

    rq_scheduler = RQScheduler(
        list(QUEUE_NAMES),
        connection=connection,
        interval=interval,
        logging_level=current_settings().LOG_LEVEL,
    )
    # RQ's per-queue Redis locks make a second scheduler wait rather than enqueue twice.
    rq_scheduler.acquire_locks()  # type: ignore[no-untyped-call]
    rq_scheduler.work()  # type: ignore[no-untyped-call]


@click.command("worker")
@with_appcontext
@click.option(
    "--queues",
    default=",".join(QUEUE_NAMES),
    show_default=True,
    help="Comma-separated queues, highest priority first.",
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(queues: str, burst: bool) -> None:
    """Run an RQ worker inside this app."""
    names = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = [name for name in names if name not in QUEUE_NAMES]
    if unknown or not names:
        raise click.BadParameter(
            f"Queues must be among {', '.join(QUEUE_NAMES)}.", param_hint="--queues"
        )
    # Import cost: the worker (RQ's Worker, the job tasks, their helpers) loads only here, not
    # in every process that builds the app and its CLI (each web worker does).
    from flaskyard.worker import run_worker

    try:
        run_worker(current_app._get_current_object(), names, burst=burst)  # type: ignore[attr-defined]
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc
