"""Prometheus metrics: requests, jobs, queue depth and open event streams.

Under gunicorn each worker process writes its samples to files in ``PROMETHEUS_MULTIPROC_DIR``
(``gunicorn.conf.py`` sets that up before any worker starts) and ``/metrics`` merges them; the
RQ worker is a single process and serves its own samples on ``WORKER_METRICS_HOST``
(127.0.0.1 by default) at ``WORKER_METRICS_PORT``.
``/metrics`` answers only with ``Authorization: Bearer <METRICS_TOKEN>``, and is off (404)
while ``METRICS_TOKEN`` is unset.
"""

from __future__ import annotations

import hmac
import os
import time
from collections.abc import Callable, Iterator
from typing import cast
from wsgiref.simple_server import WSGIServer

from apiflask import APIFlask
from flask import Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector
from redis import Redis
from redis.exceptions import RedisError
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import NotFound, Unauthorized

from flaskyard.broker import QUEUE_NAMES, get_redis
from flaskyard.settings import get_settings

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The label for requests no route matched (404s, bad methods): one series, not one per URL.
UNMATCHED_ROUTE = "<unmatched>"
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
_JOB_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)

HTTP_REQUESTS = Counter(
    "flaskyard_http_requests",
    "HTTP requests by route template, method and status.",
    ["route", "method", "status"],
)
HTTP_LATENCY = Histogram(
    "flaskyard_http_request_duration_seconds",
    "Time from the request's start to its response, by route template and method.",
    ["route", "method"],
    buckets=_LATENCY_BUCKETS,
)
JOBS_ENQUEUED = Counter("flaskyard_jobs_enqueued", "Jobs put on a queue, by type.", ["type"])
JOBS_ENDED = Counter(
    "flaskyard_jobs",
    "Jobs run by a worker, by type and the status they ended the run in "
    "(finished, failed, canceled; queued when a retry follows).",
    ["type", "status"],
)
JOB_DURATION = Histogram(
    "flaskyard_job_duration_seconds",
    "How long one run of a job took in the worker, by type.",
    ["type"],
    buckets=_JOB_BUCKETS,
)
OPEN_STREAMS = Gauge(
    "flaskyard_event_streams_open",
    "Job event streams (SSE) open now.",
    multiprocess_mode="livesum",
)


class QueueDepth(Collector):
    """Reads each queue's length from Redis when scraped (so every scrape is current)."""

    def __init__(self, connect: Callable[[], Redis | None]) -> None:
        self._connect = connect

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "flaskyard_queue_depth", "Jobs waiting on each RQ queue.", labels=["queue"]
        )
        connection = self._connect()
        if connection is None:
            return
        try:
            # A sync client: llen returns an int, not the Awaitable the stubs also allow.
            lengths = [cast(int, connection.llen(f"rq:queue:{name}")) for name in QUEUE_NAMES]
        except RedisError:
            return  # no sample rather than a failed scrape; the readiness probe reports Redis
        for name, length in zip(QUEUE_NAMES, lengths, strict=True):
            depth.add_metric([name], float(length))
        yield depth


class _Samples(Collector):
    """This process's samples, or every gunicorn worker's in multiprocess mode."""

    def collect(self) -> Iterator[Metric]:
        directory = os.environ.get(MULTIPROC_ENV)
        if directory:
            merged = CollectorRegistry()
            MultiProcessCollector(merged, path=directory)  # type: ignore[no-untyped-call]
            yield from merged.collect()
        else:
            yield from REGISTRY.collect()


def scrape_registry(connect: Callable[[], Redis | None]) -> CollectorRegistry:
    """A registry with the process's samples and the queue depths read through ``connect``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Samples())
    registry.register(QueueDepth(connect))
    return registry


def route_label() -> str:
    """The matched route's template (``/api/v1/jobs/<uuid:job_id>``), never the raw path."""
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED_ROUTE


def count_request(route: str, method: str, status: int, seconds: float) -> None:
    """Count and time one request (for answers given before Flask sees the request)."""
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


def _start() -> None:
    g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.get("metrics_started")
    route, method = route_label(), request.method
    HTTP_REQUESTS.labels(route, method, str(response.status_code)).inc()
    if started is not None:
        HTTP_LATENCY.labels(route, method).observe(time.perf_counter() - started)
    return response


def _authorized(expected: str) -> bool:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(
        token.strip().encode(), expected.encode()
    )


def _metrics_view() -> Response:
    token = get_settings(current_app).METRICS_TOKEN
    if token is None:
        raise NotFound()
    if not _authorized(token.get_secret_value()):
        raise Unauthorized(
            "Metrics need the bearer token set in METRICS_TOKEN.",
            www_authenticate=WWWAuthenticate("bearer", {"realm": "metrics"}),
        )
    body = generate_latest(scrape_registry(lambda: get_redis(probe=True)))
    return Response(body, mimetype=CONTENT_TYPE_LATEST, headers={"Cache-Control": "no-store"})


def init_app(app: Flask) -> None:
    """Count and time every request by route template, and serve ``/metrics``."""
    app.before_request(_start)
    app.after_request(_observe)
    view = _metrics_view
    if isinstance(app, APIFlask):
        # An operations endpoint for Prometheus, not part of the API the spec describes.
        view = app.doc(hide=True)(_metrics_view)
    app.add_url_rule("/metrics", endpoint="metrics", view_func=view)


def serve_worker_metrics(port: int, connection: Redis, *, host: str = "127.0.0.1") -> WSGIServer:
    """Serve the worker's samples and the queue depths on ``host:port`` (a daemon thread).

    Loopback by default: the endpoint has no authentication of its own, so a wider ``host``
    (a Kubernetes pod's address) belongs behind a NetworkPolicy.
    """
    server, _thread = start_http_server(
        port, addr=host, registry=scrape_registry(lambda: connection)
    )
    return server
