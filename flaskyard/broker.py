"""Redis connections and RQ queues (kept in ``app.extensions``), and waiting out a Redis outage."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

from flask import Flask, current_app
from redis import Redis
from redis.commands.core import Script
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import Queue
from rq.job import Job

from flaskyard.settings import get_settings

log = logging.getLogger("flaskyard.worker")

EXTENSION_KEY = "flaskyard.redis"
QUEUE_NAMES = ("high", "default", "low")
PROBE_TIMEOUT_SECONDS = 1.0
#: Longest pause between checks whether Redis is back.
REDIS_WAIT_MAX_SECONDS = 30.0

#: Where a job found queued in name only was first seen so (see :func:`requeue_if_lost`).
MISSING_KEY = "flaskyard:job-missing:{}"

# Back to the front of its queue, once, a job that is queued in name only: its status is
# queued, but no queue holds it and the queue's started registry has no run of it (RQ retries
# or fails those itself); it leaves the queue's intermediate list if RQ moved it there. With
# ARGV[3] > 0, only once it has been seen so twice, that many seconds apart. A job that
# belongs to another queue (its origin) is left alone.
# KEYS: the queue, its intermediate list, its started registry, the job, its MISSING_KEY.
# ARGV: the job's id, the time now (s), the seconds it must stay missing, the queue's name.
_PUT_BACK = """
local function fine() redis.call('DEL', KEYS[5]) return 0 end
local job = redis.call('HMGET', KEYS[4], 'status', 'origin')
if job[1] ~= 'queued' or job[2] ~= ARGV[4] then return fine() end
local run = ARGV[1] .. ':'
for _, member in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  if string.sub(member, 1, #run) == run then return fine() end
end
if redis.call('LPOS', KEYS[1], ARGV[1]) then return fine() end
if tonumber(ARGV[3]) > 0 then
  local seen = tonumber(redis.call('GET', KEYS[5]))
  if not seen then
    redis.call('SET', KEYS[5], ARGV[2], 'EX', 86400)
    return 0
  end
  if tonumber(ARGV[2]) - seen < tonumber(ARGV[3]) then return 0 end
end
redis.call('LREM', KEYS[2], 1, ARGV[1])
redis.call('LPUSH', KEYS[1], ARGV[1])
fine()
return 1
"""


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


def wait_for_redis(connection: Redis) -> None:
    """Return once Redis answers a PING, checking less often the longer it stays away."""
    delay = 1.0
    while True:
        try:
            connection.ping()
            return
        except RedisError:
            time.sleep(delay)
            delay = min(delay * 2, REDIS_WAIT_MAX_SECONDS)


class KeepingQueue(Queue):
    """RQ's Queue, but a job taken off it just as Redis went away goes back instead of missing.

    RQ's dequeue pops a job's id (LPOP, or LMOVE into the queue's intermediate list) and then
    reads the job. When Redis goes away between the two, the worker logs the error and
    dequeues again, and the popped id is in no queue and no registry: the job never runs (from
    the intermediate list, RQ fails it a minute later). Here the id is put back first.
    """

    @classmethod
    def dequeue_any(  # type: ignore[override]
        cls, queues: Any, timeout: int | None, connection: Redis, **kwargs: Any
    ) -> tuple[Job, Queue] | None:
        try:
            return super().dequeue_any(queues, timeout, connection=connection, **kwargs)
        except (RedisConnectionError, RedisTimeoutError) as exc:
            # RQ names the popped job on an error reading it; nothing was popped otherwise.
            job_id, queue = getattr(exc, "job_id", None), getattr(exc, "queue", None)
            if isinstance(job_id, str) and isinstance(queue, Queue):
                put_back(connection, queue, job_id)
            raise


def put_back(connection: Redis, queue: Queue, job_id: str) -> None:
    """Once Redis answers, return ``job_id`` to the front of ``queue`` if it is queued in name
    only: taken off the queue and never started. Otherwise leave it to RQ."""
    script = connection.register_script(_PUT_BACK)
    while True:
        wait_for_redis(connection)
        try:
            returned = _put_back(script, queue, job_id, missing_for=0)
        except (RedisConnectionError, RedisTimeoutError):
            continue  # gone again; the script is safe to run twice
        if returned:
            log.warning("job %s was taken off %s as Redis went away; queued again", job_id, queue)
        return


def requeue_if_lost(
    connection: Redis, jobs: Sequence[tuple[Queue, str]], *, missing_for: float
) -> list[str]:
    """Put each ``(queue, job id)`` back on its queue if it is queued in name only and was
    already so at a call at least ``missing_for`` seconds ago: a worker took it off and never
    started it (killed in between, or Redis lost its answer). One round trip for them all;
    the ids that went back."""
    script = connection.register_script(_PUT_BACK)
    with connection.pipeline(transaction=False) as pipeline:
        for queue, job_id in jobs:
            _put_back(script, queue, job_id, missing_for=missing_for, client=pipeline)
        returned = pipeline.execute()  # no command sent when there is no job
    return [job_id for (_, job_id), back in zip(jobs, returned, strict=True) if back]


def _put_back(
    script: Script, queue: Queue, job_id: str, *, missing_for: float, client: Any = None
) -> Any:
    """Run the put-back script for one job, on ``client`` (a pipeline) or at once."""
    keys = [
        queue.key,
        queue.intermediate_queue.key,
        queue.started_job_registry.key,
        queue.job_class.key_for(job_id),
        MISSING_KEY.format(job_id),
    ]
    return script(keys=keys, args=[job_id, time.time(), missing_for, queue.name], client=client)
