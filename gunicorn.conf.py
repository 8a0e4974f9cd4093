"""Gunicorn settings, read from the same typed configuration as the app.

Anything not set here can still be given on the command line or in ``GUNICORN_CMD_ARGS``
(for example ``GUNICORN_CMD_ARGS="--graceful-timeout 60"``); gunicorn applies those last.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from flaskyard.boot import DEFAULT_THREADS, default_workers
from flaskyard.config import ConfigError, load_settings

try:
    _settings = load_settings()
except ConfigError as exc:
    raise SystemExit(f"flaskyard: configuration error: {exc}") from None

wsgi_app = "flaskyard:create_app()"
bind = [_settings.GUNICORN_BIND]
workers = _settings.GUNICORN_WORKERS or default_workers()
# gthread: each request holds one thread, not one process. Its subclass HandoffWorker hands
# a job's SSE stream (/api/v1/jobs/{id}/events), which stays open for the job's whole run, to
# one event loop per worker once its first event is out, so open streams hold no thread at all
# and cannot starve the other requests (flaskyard/boot/gthread.py; docs/streams.md).
worker_class = "flaskyard.boot.gthread.HandoffWorker"
threads = _settings.GUNICORN_THREADS or DEFAULT_THREADS
pidfile = str(_settings.GUNICORN_PID_FILE)
# Gunicorn 24+ also opens a control socket under $HOME; restart-workers uses the pid file, and
# the image's home is not writable (read-only root), so keep it off.
control_socket_disable = True
# A heartbeat file on tmpfs: a disk-backed (or overlayfs) /tmp can stall workers into timeouts.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108
# Requests in flight get this long to finish after SIGTERM or SIGHUP; keep the container's
# stop_grace_period (compose) / terminationGracePeriodSeconds (k8s) above it.
graceful_timeout = 30
timeout = 60
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound; the jitter keeps them
# from all restarting at the same moment.
max_requests = 1000
max_requests_jitter = 100
# The app is built in each worker after fork (no preload), so a SIGHUP (restart-workers)
# loads new code and settings. That also means no database engine exists in the master to
# inherit; flaskyard.database registers an os.register_at_fork hook that empties the pools of
# any engine a forked child does inherit (--preload, RQ work horses), so post_fork needs no
# dispose of its own.
preload_app = False
# X-Forwarded-Proto/-For are believed only from these addresses (gunicorn's own setting;
# REMOTE_ADDR rewriting is the app's PROXY_FIX_X_FOR).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# Access and error logs both go to stdout, where containers and journald collect them.
loglevel = _settings.LOG_LEVEL.lower()
accesslog = "-"
access_log_format = '%(h)s "%(r)s" %(s)s %(B)s %(M)sms %({x-request-id}o)s'
_text = "%(asctime)s %(levelname)s [%(process)d] %(name)s: %(message)s"
_formatter: dict[str, Any] = {"format": _text}
if _settings.log_format == "json":
    # The same JSON lines as the app's own logs (flaskyard.logs).
    _formatter = {
        "()": "pythonjsonlogger.json.JsonFormatter",
        "fmt": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
        "rename_fields": {"asctime": "time", "levelname": "level"},
    }

logconfig_dict: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"default": _formatter},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "default",
            "stream": "ext://sys.stdout",
        },
    },
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["stdout"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
    "root": {"level": "WARNING", "handlers": ["stdout"]},
}


# Prometheus multiprocess mode: every worker writes its samples to files here and /metrics
# merges them, whichever worker answers the scrape. Set before any worker imports
# prometheus_client (the master never loads the app). One folder per master, emptied when it
# starts and removed when it exits, so counters begin at zero with the server; a SIGHUP reload
# keeps the master, the folder and so the counters.
metrics_dir = Path(
    os.environ.setdefault(
        "PROMETHEUS_MULTIPROC_DIR",
        os.path.join(tempfile.gettempdir(), f"flaskyard-metrics-{os.getpid()}"),
    )
)


def _clear_metrics() -> None:
    # Only the sample files: the folder may be one the operator named (an emptyDir, say).
    for path in metrics_dir.glob("*.db"):
        path.unlink(missing_ok=True)


def on_starting(server: Any) -> None:
    """Start with an empty metrics folder."""
    metrics_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    _clear_metrics()


def on_exit(server: Any) -> None:
    """Leave no sample files behind (and no folder, when it was this server's own)."""
    _clear_metrics()
    if metrics_dir.name == f"flaskyard-metrics-{os.getpid()}":
        shutil.rmtree(metrics_dir, ignore_errors=True)


def child_exit(server: Any, worker: Any) -> None:
    """Drop a dead worker's live gauges (open streams) from the merged metrics."""
    # Import cost: the master loads prometheus_client only once a worker has exited.
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]


def post_fork(server: Any, worker: Any) -> None:
    """Log each worker's start; pools are already empty in it (see ``preload_app`` above)."""
    server.log.info("worker %s started (%s threads)", worker.pid, threads)
