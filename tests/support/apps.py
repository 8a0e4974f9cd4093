"""Apps built next to the ``app`` fixture: their settings, their clean-up, their tables."""

from __future__ import annotations

import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from uuid import uuid4

import sqlalchemy as sa
from apiflask import APIFlask

from flaskyard import create_app
from flaskyard.app import build_base, load_or_exit
from flaskyard.broker import EXTENSION_KEY as REDIS_KEY
from flaskyard.extensions import db
from tests.support.backends import session_redis


def base_config(database_url: str, **extra: Any) -> dict[str, Any]:
    """Settings every test app shares; tests add their own on top."""
    config: dict[str, Any] = {
        "APP_ENV": "testing",
        "DATABASE_URL": database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "JWT_SECRET_KEY": secrets.token_urlsafe(32),
        "LOG_LEVEL": "WARNING",
    }
    isolate_rate_limits(config)
    redis = session_redis()
    if redis is not None and redis.url:
        config["REDIS_URL"] = redis.url
    config.update(extra)
    return config


def isolate_rate_limits(app_config: dict[str, Any]) -> str:
    """Give the next app its own rate-limit key prefix (returned); call before building it.

    Rate-limit counters live in the shared Redis, so two apps with one prefix share counters.
    """
    prefix = f"test-{uuid4().hex}"
    app_config["RATELIMIT_KEY_PREFIX"] = prefix
    return prefix


@contextmanager
def built_app(
    config: Mapping[str, Any], mode: str = "testing", *, base_only: bool = False
) -> Iterator[APIFlask]:
    """An app from ``config`` with ``APP_ENV=mode``; its pools are closed afterwards.

    ``base_only``: the base app the ``dashboard`` role serves, without the API's domains.
    """
    environ = {"APP_ENV": mode}
    if base_only:
        application = build_base(load_or_exit(config, environ=environ))
    else:
        application = create_app(config, environ=environ)
    try:
        yield application
    finally:
        close_redis(application)
        with application.app_context():
            db.session.remove()
            db.engine.dispose()


def close_redis(application: APIFlask) -> None:
    """Close the app's Redis clients so no socket outlives the test."""
    for client in application.extensions.get(REDIS_KEY, {}).values():
        if client is not None:
            client.close()


def count_rows(table: str, where: str = "", *, app: APIFlask | None = None) -> int:
    """Rows of ``table``, optionally filtered by an SQL condition.

    Without ``app`` they are counted in the current session (so its own changes count); with
    ``app``, in a fresh app context and session, as the next request would see them.
    """
    sql = sa.text(f"SELECT COUNT(*) FROM {table}" + (f" WHERE {where}" if where else ""))  # noqa: S608
    if app is None:
        return int(db.session.scalar(sql) or 0)
    with app.app_context():
        return int(db.session.scalar(sql) or 0)
