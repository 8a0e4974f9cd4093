"""The image's HEALTHCHECK: HTTP ``/healthz`` for servers, a Redis ping for queue roles."""

from __future__ import annotations

import os
import urllib.request
from pathlib import Path

from flaskyard.boot.common import DEFAULT_ROLE, ROLES, BootError, first_line
from flaskyard.boot.sizing import role_bind, split_bind
from flaskyard.boot.waiting import redis_check

HEALTH_TIMEOUT_SECONDS = 4.0


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
        # Import cost: the check runs every few seconds; load only what it needs.
        from flaskyard.environment import ConfigError, expand_url

        try:
            url = expand_url("REDIS_URL", os.environ)
        except ConfigError as exc:
            print(f"unhealthy: {exc}")
            return 1
        if not url:
            print("unhealthy: neither REDIS_URL nor REDIS_HOST is set.")
            return 1
        try:
            redis_check(url)()
        except Exception as exc:  # noqa: BLE001 - any failure is unhealthy
            print(f"unhealthy: Redis {first_line(exc)}")
            return 1
        return 0
    if role not in ROLES:
        return 0  # a one-off command: nothing to probe
    from flaskyard.environment import ConfigError, expand_setting  # import cost: see above

    try:
        bind = role_bind(
            role,
            expand_setting("GUNICORN_BIND", os.environ),
            expand_setting("DASHBOARD_BIND", os.environ),
        )
        host, port = split_bind(bind)
    except (BootError, ConfigError) as exc:
        print(f"unhealthy: {exc}")
        return 1
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - a bind address, compared, not bound
        host = "127.0.0.1"
    url = f"http://{host if ':' not in host else f'[{host}]'}:{port}/healthz"
    try:
        with urllib.request.urlopen(url, timeout=HEALTH_TIMEOUT_SECONDS) as response:  # noqa: S310
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {url} {first_line(exc)}")
        return 1
