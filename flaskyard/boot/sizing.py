"""Server sizing from the CPUs this process may use; shared with ``gunicorn.conf.py``."""

from __future__ import annotations

from flaskyard.boot.common import BootError
from flaskyard.core.machine import available_cpus as available_cpus

DEFAULT_THREADS = 8
MAX_DEFAULT_WORKERS = 12
DEFAULT_BIND = "127.0.0.1:5000"
#: The web role's port when GUNICORN_BIND is left as it comes, and the dashboard's own.
WEB_PORT = 5000
DASHBOARD_PORT = 5555


def default_workers(cpus: int | None = None) -> int:
    """Gunicorn's rule of thumb, 2 × CPUs + 1, capped so a big host does not exhaust memory."""
    return min(2 * (cpus or available_cpus()) + 1, MAX_DEFAULT_WORKERS)


def split_bind(bind: str) -> tuple[str, int]:
    """``host:port`` (or ``[v6]:port``) into its parts."""
    host, _, port = bind.rpartition(":")
    if not host or not port.isdigit():
        raise BootError(f"GUNICORN_BIND must look like HOST:PORT, not {bind!r}.")
    return host.strip("[]"), int(port)


def role_bind(role: str, bind: str | None, dashboard_bind: str | None = None) -> str:
    """Where a server role listens, from ``GUNICORN_BIND`` and ``DASHBOARD_BIND``.

    The web role takes ``GUNICORN_BIND``. The dashboard takes ``DASHBOARD_BIND``, else
    ``GUNICORN_BIND``'s host on port 5555; a ``GUNICORN_BIND`` naming a port of its own (not
    5000) was set for this very process, so it is kept as it is.
    """
    bind = bind or DEFAULT_BIND
    if role != "dashboard":
        return bind
    if dashboard_bind:
        split_bind(dashboard_bind)
        return dashboard_bind
    host, port = split_bind(bind)
    if port != WEB_PORT:
        return bind
    return f"[{host}]:{DASHBOARD_PORT}" if ":" in host else f"{host}:{DASHBOARD_PORT}"
