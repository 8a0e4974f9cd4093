"""The roles: the boot steps, then the command each role execs into."""

from __future__ import annotations

import logging
import os
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from flaskyard.boot.common import DEFAULT_ROLE, ROLES, BootError, log
from flaskyard.boot.healthcheck import healthcheck
from flaskyard.boot.migrations import compile_translations, run_migrations
from flaskyard.boot.sizing import DEFAULT_THREADS, default_workers, role_bind, split_bind
from flaskyard.boot.waiting import wait_for_services

if TYPE_CHECKING:
    from flaskyard.config import Settings

#: Where the image keeps gunicorn.conf.py and docker/ (the working directory elsewhere).
IMAGE_APP_DIR = Path("/app")


def _truthy(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in ("0", "false", "no", "off")


def _tool(name: str) -> str:
    """The console script ``name`` next to this interpreter (the venv), else from PATH."""
    sibling = Path(sys.executable).parent / name
    if sibling.exists():
        return str(sibling)
    found = shutil.which(name)
    if found is None:
        raise BootError(f"{name} is not installed in this environment.")
    return found


def _app_dir() -> Path:
    here = Path.cwd()
    return here if (here / "gunicorn.conf.py").exists() else IMAGE_APP_DIR


def server_command(
    settings: Settings, target: str, extra: Sequence[str] = (), *, bind: str | None = None
) -> list[str]:
    """The command line serving the WSGI factory ``target`` (``module:function``).

    ``bind`` (``host:port``) replaces ``GUNICORN_BIND``.
    """
    if settings.SERVER == "granian":
        host, port = split_bind(bind or settings.GUNICORN_BIND)
        return [
            _tool("granian"),
            "--interface",
            "wsgi",
            "--factory",
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(settings.GUNICORN_WORKERS or default_workers()),
            "--blocking-threads",
            str(settings.GUNICORN_THREADS or DEFAULT_THREADS),
            "--pid-file",
            str(settings.GUNICORN_PID_FILE),
            "--respawn-failed-workers",
            *extra,
            target,
        ]
    config = _app_dir() / "gunicorn.conf.py"
    # On the command line, --bind wins over gunicorn.conf.py's GUNICORN_BIND.
    binding = ["--bind", bind] if bind else []
    return [_tool("gunicorn"), "--config", str(config), *binding, *extra, f"{target}()"]


def flask_command(*args: str) -> list[str]:
    """``flask --app flaskyard ARGS`` with this interpreter (the venv's Flask)."""
    return [sys.executable, "-m", "flask", "--app", "flaskyard", *args]


def role_command(role: str, settings: Settings, extra: Sequence[str]) -> list[str] | None:
    """The command a role execs into, or None when the role ends after the boot steps."""
    if role == "web":
        return server_command(settings, "flaskyard:create_app", extra)
    if role == "dashboard":
        bind = role_bind(role, settings.GUNICORN_BIND, settings.DASHBOARD_BIND)
        return server_command(
            settings, "flaskyard.dashboard:create_dashboard_app", extra, bind=bind
        )
    if role == "worker":
        return flask_command("worker", *extra)
    if role == "scheduler":
        return flask_command("scheduler", *extra)
    if role == "all-in-one":
        script = Path(os.environ.get("FLASKYARD_DOCKER_DIR") or _app_dir() / "docker")
        return [sys.executable, str(script / "supervise.py"), *extra]
    return None  # migrate


def _exec(command: Sequence[str]) -> NoReturn:
    log.info("exec %s", " ".join(command))
    for handler in logging.getLogger("flaskyard").handlers:
        handler.flush()
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        os.execvp(command[0], list(command))  # noqa: S606 - exec is the point: no shell
    except FileNotFoundError:
        print(f"flaskyard.boot: {command[0]}: command not found", file=sys.stderr)
        os._exit(127)
    except PermissionError:
        print(f"flaskyard.boot: {command[0]}: permission denied", file=sys.stderr)
        os._exit(126)


def boot(role: str, extra: Sequence[str]) -> list[str] | None:
    """Run the boot steps for ``role``; return the command to exec (None: nothing to run)."""
    # Import cost: settings and logging load only when a role boots, not for the health check.
    from flaskyard.config import load_settings
    from flaskyard.logs import configure_logging

    settings = load_settings()
    configure_logging(settings.LOG_LEVEL, settings.log_format)
    log.info("booting role %s (APP_ENV=%s)", role, settings.APP_ENV)
    needs_redis = role in ("web", "worker", "dashboard", "scheduler", "all-in-one")
    wait_for_services(settings, database=role != "scheduler", redis=needs_redis)
    migrate = role in ("migrate", "all-in-one") or (
        role == "web" and _truthy("MIGRATE_ON_START", default=True)
    )
    if migrate:
        run_migrations()
    compile_translations(settings.INSTANCE_DIR)
    return role_command(role, settings, extra)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m flaskyard.boot [ROLE|COMMAND] [ARGS...]``."""
    args = list(sys.argv[1:] if argv is None else argv) or [DEFAULT_ROLE]
    first, extra = args[0], args[1:]
    if first == "healthcheck":
        return healthcheck(extra[0] if extra else None)
    if first == "translations":
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        compile_translations()
        return 0
    if first not in ROLES:
        _exec(args)
    from flaskyard.config import ConfigError  # import cost: see boot()

    try:
        command = boot(first, extra)
    except (BootError, ConfigError) as exc:
        log.error("boot failed: %s", exc)
        print(f"flaskyard.boot: {exc}", file=sys.stderr)
        return 1
    if command is None:
        log.info("role %s done", first)
        return 0
    _exec(command)
