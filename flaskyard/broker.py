"""Redis connections and RQ queues, kept in ``app.extensions``."""

from __future__ import annotations

from flask import Flask, current_app
from redis import Redis
from rq import Queue

from flaskyard.settings import get_settings

EXTENSION_KEY = "flaskyard.redis"
QUEUE_NAMES = ("high", "default", "low")
PROBE_TIMEOUT_SECONDS = 1.0


def init_app(app: Flask) -> None:
    """Create the Redis clients (they connect lazily) when ``REDIS_URL`` is set."""
    url = get_settings(app).REDIS_URL
    clients: dict[str, Redis | None] = {"main": None, "probe": None}
    if url:
        clients["main"] = Redis.from_url(url, health_check_interval=30)
        clients["probe"] = Redis.from_url(
            url, socket_timeout=PROBE_TIMEOUT_SECONDS, socket_connect_timeout=PROBE_TIMEOUT_SECONDS
        )
    app.extensions[EXTENSION_KEY] = clients


def get_redis(*, probe: bool = False) -> Redis | None:
    """The app's Redis client, or None when no Redis is configured."""
    clients: dict[str, Redis | None] = current_app.extensions[EXTENSION_KEY]
    return clients["probe" if probe else "main"]


def get_queue(name: str = "default") -> Queue:
    """The RQ queue ``name``; raises RuntimeError when no Redis is configured."""
    if name not in QUEUE_NAMES:
        raise ValueError(f"Unknown queue {name!r}; expected one of {', '.join(QUEUE_NAMES)}.")
    connection = get_redis()
    if connection is None:
        raise RuntimeError("REDIS_URL is not set, so there is no job queue.")
    return Queue(name, connection=connection)
