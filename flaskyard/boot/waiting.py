"""Waiting for the database and Redis with a bounded, logged backoff."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit, urlunsplit

from flaskyard.boot.common import BootError, first_line, log

if TYPE_CHECKING:
    from flaskyard.config import Settings

#: How long to wait for the database and Redis, in total (``BOOT_WAIT_TIMEOUT`` overrides).
WAIT_TIMEOUT_SECONDS = 120.0
FIRST_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 5.0
CONNECT_TIMEOUT_SECONDS = 3


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


def _wait_timeout() -> float:
    raw = os.environ.get("BOOT_WAIT_TIMEOUT", "")
    try:
        return float(raw) if raw else WAIT_TIMEOUT_SECONDS
    except ValueError:
        raise BootError(f"BOOT_WAIT_TIMEOUT must be a number of seconds, not {raw!r}.") from None


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
                    f"{first_line(exc)}."
                ) from exc
            log.warning(
                "waiting for %s (attempt %d, %s); next try in %.1f s",
                what,
                attempt,
                first_line(exc),
                delay,
            )
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY_SECONDS)
            continue
        if attempt > 1:
            log.info("%s answered after %d attempts (%.1f s)", what, attempt, clock() - started)
        return attempt


def _database_check(url: str) -> Callable[[], None]:
    import sqlalchemy as sa  # import cost: the health check imports this package

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


def redis_check(url: str) -> Callable[[], None]:
    """A check that pings Redis at ``url`` once, with short timeouts."""
    from redis import Redis  # import cost: only the roles that use Redis pay for it

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
        wait_for(f"Redis at {safe_url(redis_url)}", redis_check(redis_url), timeout=timeout)
