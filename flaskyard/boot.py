"""Process boot for containers and services: check settings, wait, migrate once, exec the role.

``python -m flaskyard.boot [ROLE] [ARGS...]`` is the image's entrypoint (under tini) and what the
systemd units run. Roles: ``web`` (default), ``worker``, ``dashboard``, ``scheduler``,
``migrate``, ``all-in-one``; anything else (``flask create-admin …``, ``sh``) is executed as
given. The steps:

1. read the settings with :func:`flaskyard.config.load_settings` (``NAME_FILE`` and
   ``DOCKER-SECRET->name`` included), so a bad or missing secret stops here with one sentence;
2. wait for the database and Redis with a bounded backoff, one log line per attempt;
3. ``web``, ``migrate`` and ``all-in-one`` apply migrations under a database lock, so replicas
   booting together migrate once (``MIGRATE_ON_START=false`` skips this for ``web``);
4. compile translation catalogues when there are any;
5. ``os.execv`` the server, so the role's process replaces this one and gets the signals.

Expanded secrets are never written back into the environment: every Flaskyard process reads
them from the same files with the same code, and they stay out of ``/proc/<pid>/environ``.

Importing this module is cheap (stdlib only): the image's HEALTHCHECK and ``gunicorn.conf.py``
use it.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn
from urllib.parse import urlsplit, urlunsplit

if TYPE_CHECKING:
    import sqlalchemy as sa

    from flaskyard.config import Settings

ROLES = ("web", "worker", "dashboard", "scheduler", "migrate", "all-in-one")
DEFAULT_ROLE = "web"
#: How long to wait for the database and Redis, in total (``BOOT_WAIT_TIMEOUT`` overrides).
WAIT_TIMEOUT_SECONDS = 120.0
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 3
#: Postgres advisory-lock key and MySQL lock name that serialise migrations across replicas.
MIGRATION_LOCK_KEY = 0x466C736B  # "Flsk"
MIGRATION_LOCK_NAME = "flaskyard-migrations"
MIGRATION_LOCK_TIMEOUT_SECONDS = 600
#: Where the image keeps gunicorn.conf.py and docker/ (the working directory elsewhere).
IMAGE_APP_DIR = Path("/app")
DEFAULT_THREADS = 8
MAX_DEFAULT_WORKERS = 12
HEALTH_TIMEOUT_SECONDS = 4.0

log = logging.getLogger("flaskyard.boot")


class BootError(Exception):
    """Boot cannot go on; the message is one sentence for the operator."""


# --- sizing, shared with gunicorn.conf.py ----------------------------------------------------


def available_cpus() -> int:
    """CPUs this process may use: the cgroup v2 quota when set, else the affinity mask."""
    try:
        count = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - macOS
        count = os.cpu_count() or 1
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text(encoding="ascii").split()[:2]
        if quota != "max":
            count = min(count, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return max(1, count)


def default_workers(cpus: int | None = None) -> int:
    """Gunicorn's rule of thumb, 2 × CPUs + 1, capped so a big host does not exhaust memory."""
    return min(2 * (cpus or available_cpus()) + 1, MAX_DEFAULT_WORKERS)


def split_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) into its parts."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise BootError(f"GUNICORN_BIND must look like HOST:PORT, not {bind!r}.")
    return host.strip("[]"), int(port)


# --- helpers ---------------------------------------------------------------------------------


def safe_url(url: str) -> str:
    """The URL with any password replaced by ``***``, fit for a log line."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{user}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else 'failed'}"


def _wait_timeout() -> float:
    raw = os.environ.get("BOOT_WAIT_TIMEOUT", "")
    try:
        return float(raw) if raw else WAIT_TIMEOUT_SECONDS
    except ValueError:
        raise BootError(f"BOOT_WAIT_TIMEOUT must be a number of seconds, not {raw!r}.") from None


def _truthy(name: str, default: bool) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    if not raw:
        return default
    return raw not in ("0", "false", "no", "off")


def wait_for(
    what: str,
    check: Callable[[], None],
    *,
    timeout: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Call ``check`` until it stops raising, with doubling delays; return the attempts made."""
    started = clock()
    delay = FIRST_DELAY_SECONDS
    attempt = 0
    while True:
        attempt += 1
        try:
            check()
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet", reported as is
            elapsed = clock() - started
            if elapsed + delay > timeout:
                raise BootError(
                    f"Gave up waiting for {what} after {attempt} attempts in {elapsed:.1f} s: "
                    f"{_first_line(exc)}."
                ) from exc
            log.warning(
                "waiting for %s (attempt %d, %s); next try in %.1f s",
                what,
                attempt,
                _first_line(exc),
                delay,
            )
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY_SECONDS)
            continue
        if attempt > 1:
            log.info("%s answered after %d attempts (%.1f s)", what, attempt, clock() - started)
        return attempt


def _database_check(url: str) -> Callable[[], None]:
    import sqlalchemy as sa

    parsed = sa.make_url(url)
    args: dict[str, Any] = {}
    if parsed.get_backend_name() in ("postgresql", "mysql", "mariadb"):
        args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS

    def check() -> None:
        engine = sa.create_engine(parsed, connect_args=args, poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        finally:
            engine.dispose()

    return check


def _redis_check(url: str) -> Callable[[], None]:
    from redis import Redis

    def check() -> None:
        client = Redis.from_url(
            url,
            socket_connect_timeout=CONNECT_TIMEOUT_SECONDS,
            socket_timeout=CONNECT_TIMEOUT_SECONDS,
        )
        try:
            client.ping()
        finally:
            client.close()

    return check


def wait_for_services(settings: Settings, *, database: bool, redis: bool) -> None:
    """Block until the database and Redis (when configured) answer, or raise BootError."""
    timeout = _wait_timeout()
    url = settings.DATABASE_URL
    # No DATABASE_URL means the app's own SQLite file: nothing to wait for.
    if database and url and not url.startswith("sqlite"):
        wait_for(f"the database at {safe_url(url)}", _database_check(url), timeout=timeout)
    if redis and settings.REDIS_URL:
        redis_url = settings.REDIS_URL
        wait_for(f"Redis at {safe_url(redis_url)}", _redis_check(redis_url), timeout=timeout)


# --- migrations ------------------------------------------------------------------------------


@contextmanager
def migration_lock(engine: sa.Engine) -> Iterator[None]:
    """Hold a database-wide lock so concurrent replicas apply migrations one at a time."""
    import sqlalchemy as sa

    dialect = engine.dialect.name
    if dialect == "postgresql":
        with engine.connect() as connection:
            got = connection.scalar(
                sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}
            )
            if not got:
                log.info("another process holds the migration lock; waiting for it")
                connection.execute(
                    sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}
                )
            connection.commit()  # the lock is session-level: it outlives this transaction
            try:
                yield
            finally:
                connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY}
                )
                connection.commit()
    elif dialect in ("mysql", "mariadb"):
        with engine.connect() as connection:
            query = sa.text("SELECT GET_LOCK(:n, :t)")
            got = connection.scalar(query, {"n": MIGRATION_LOCK_NAME, "t": 0})
            if got != 1:
                log.info("another process holds the migration lock; waiting for it")
                got = connection.scalar(
                    query, {"n": MIGRATION_LOCK_NAME, "t": MIGRATION_LOCK_TIMEOUT_SECONDS}
                )
            if got != 1:
                raise BootError(
                    f"The migration lock was not released within "
                    f"{MIGRATION_LOCK_TIMEOUT_SECONDS} s."
                )
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": MIGRATION_LOCK_NAME})
    elif dialect == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        import fcntl

        lock_path = Path(f"{engine.url.database}.migrate-lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("another process holds the migration lock; waiting for it")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        log.warning("no migration lock for the %s dialect; migrating without one", dialect)
        yield


def run_migrations() -> str | None:
    """Apply pending migrations under the migration lock; return the revision now current."""
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    from flaskyard import create_app
    from flaskyard.extensions import db, ensure_migrate

    app = create_app()
    ensure_migrate(app)
    with app.app_context():
        engine = db.engine
        with migration_lock(engine):
            upgrade()
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
        engine.dispose()
    log.info("database schema at revision %s", revision)
    return revision


# --- translations ----------------------------------------------------------------------------


def compile_translations() -> None:
    """Run ``flask translate compile`` when catalogues exist and are newer than their .mo files."""
    from flaskyard.i18n import TRANSLATIONS_DIR

    catalogues = sorted(TRANSLATIONS_DIR.glob("*/LC_MESSAGES/*.po"))
    if not catalogues:
        log.debug("no translation catalogues to compile")
        return
    stale = [
        po
        for po in catalogues
        if not po.with_suffix(".mo").exists()
        or po.with_suffix(".mo").stat().st_mtime < po.stat().st_mtime
    ]
    if not stale:
        log.info("translations already compiled (%d catalogues)", len(catalogues))
        return
    import subprocess

    command = [sys.executable, "-m", "flask", "--app", "flaskyard", "translate", "compile"]
    result = subprocess.run(command, check=False)  # noqa: S603 - our own interpreter and command
    if result.returncode != 0:
        raise BootError("flask translate compile failed; see the lines above.")


# --- roles -----------------------------------------------------------------------------------


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


def server_command(settings: Settings, target: str, extra: Sequence[str] = ()) -> list[str]:
    """The command line serving the WSGI factory ``target`` (``module:function``)."""
    if settings.SERVER == "granian":
        host, port = split_bind(settings.GUNICORN_BIND)
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
    return [_tool("gunicorn"), "--config", str(config), *extra, f"{target}()"]


def _flask(*args: str) -> list[str]:
    return [sys.executable, "-m", "flask", "--app", "flaskyard", *args]


def role_command(role: str, settings: Settings, extra: Sequence[str]) -> list[str] | None:
    """The command a role execs into, or None when the role ends after the boot steps."""
    if role == "web":
        return server_command(settings, "flaskyard:create_app", extra)
    if role == "dashboard":
        return server_command(settings, "flaskyard.dashboard:create_dashboard_app", extra)
    if role == "worker":
        return _flask("worker", *extra)
    if role == "scheduler":
        return _flask("scheduler", *extra)
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
    from flaskyard.config import load_settings
    from flaskyard.logging import configure_logging

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
    compile_translations()
    return role_command(role, settings, extra)


# --- health check ----------------------------------------------------------------------------


def _running_role() -> str:
    """The role PID 1 (tini) was started with, read from its command line."""
    try:
        argv = Path("/proc/1/cmdline").read_bytes().split(b"\0")
    except OSError:
        return DEFAULT_ROLE
    words = [part.decode(errors="replace") for part in argv if part]
    if "flaskyard.boot" in words:
        rest = words[words.index("flaskyard.boot") + 1 :]
        return rest[0] if rest else DEFAULT_ROLE
    return DEFAULT_ROLE


def healthcheck(role: str | None = None) -> int:
    """The image's HEALTHCHECK: HTTP /healthz for servers, a Redis ping for queue roles."""
    role = role or _running_role()
    if role in ("worker", "scheduler"):
        from flaskyard.config import ConfigError, expand_setting

        try:
            url = expand_setting("REDIS_URL", os.environ)
        except ConfigError as exc:
            print(f"unhealthy: {exc}")
            return 1
        if not url:
            print("unhealthy: REDIS_URL is not set.")
            return 1
        try:
            _redis_check(url)()
        except Exception as exc:  # noqa: BLE001 - any failure is unhealthy
            print(f"unhealthy: Redis {_first_line(exc)}")
            return 1
        return 0
    if role not in ROLES:
        return 0  # a one-off command: nothing to probe
    import urllib.request

    host, port = split_bind(os.environ.get("GUNICORN_BIND", "127.0.0.1:5000"))
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a bind address, compared, not bound
        host = "127.0.0.1"
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_SECONDS) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {url} {_first_line(exc)}")
        return 1


# --- entry point -----------------------------------------------------------------------------


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
    from flaskyard.config import ConfigError

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


if __name__ == "__main__":
    sys.exit(main())
