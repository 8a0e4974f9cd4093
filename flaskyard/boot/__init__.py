"""Process boot for containers and services: check settings, wait, migrate once, exec the role.

``python -m flaskyard.boot [ROLE] [ARGS...]`` is the image's entrypoint (under tini) and what the
systemd units run. Roles: ``web`` (default), ``worker``, ``dashboard``, ``scheduler``,
``migrate``, ``all-in-one``; anything else (``flask create-admin …``, ``sh``) is executed as
given. The steps (:func:`flaskyard.boot.roles.boot`):

1. read the settings with :func:`flaskyard.config.load_settings` (``NAME_FILE`` and
   ``DOCKER-SECRET->name`` included), so a bad or missing secret stops here with one sentence;
2. wait for the database and Redis with a bounded backoff, one log line per attempt
   (:mod:`~flaskyard.boot.waiting`);
3. ``web``, ``migrate`` and ``all-in-one`` apply migrations under a database lock, so replicas
   booting together migrate once (``MIGRATE_ON_START=false`` skips this for ``web``;
   :mod:`~flaskyard.boot.migrations`);
4. compile translation catalogues when there are any;
5. ``os.execv`` the server, so the role's process replaces this one and gets the signals.

Expanded secrets are never written back into the environment: every Flaskyard process reads
them from the same files with the same code, and they stay out of ``/proc/<pid>/environ``.

Importing this package is cheap (stdlib only at module level; heavier imports wait inside the
functions that need them): the image's HEALTHCHECK and ``gunicorn.conf.py`` use it.
"""

from __future__ import annotations

from flaskyard.boot.common import DEFAULT_ROLE, ROLES, BootError
from flaskyard.boot.healthcheck import healthcheck
from flaskyard.boot.migrations import compile_translations, migration_lock, run_migrations
from flaskyard.boot.roles import boot, main, role_command, server_command
from flaskyard.boot.sizing import (
    DEFAULT_THREADS,
    MAX_DEFAULT_WORKERS,
    available_cpus,
    default_workers,
    role_bind,
    split_bind,
)
from flaskyard.boot.waiting import MAX_DELAY_SECONDS, safe_url, wait_for, wait_for_services

__all__ = [
    "DEFAULT_ROLE",
    "DEFAULT_THREADS",
    "MAX_DEFAULT_WORKERS",
    "MAX_DELAY_SECONDS",
    "ROLES",
    "BootError",
    "available_cpus",
    "boot",
    "compile_translations",
    "default_workers",
    "healthcheck",
    "main",
    "migration_lock",
    "role_bind",
    "role_command",
    "run_migrations",
    "safe_url",
    "server_command",
    "split_bind",
    "wait_for",
    "wait_for_services",
]
