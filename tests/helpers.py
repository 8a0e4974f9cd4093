"""Helpers shared by test modules: extra apps built next to the ``app`` fixture."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from apiflask import APIFlask

from flaskyard import create_app
from flaskyard.broker import EXTENSION_KEY as REDIS_KEY
from flaskyard.extensions import db


@contextmanager
def built_app(config: Mapping[str, Any], mode: str = "testing") -> Iterator[APIFlask]:
    """An app from ``config`` with ``APP_ENV=mode``; its pools are closed afterwards."""
    application = create_app(config, environ={"APP_ENV": mode})
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
