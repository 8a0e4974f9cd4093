"""Prometheus metrics: /metrics behind its token, request and job counters, the worker endpoint."""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import socket
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from redis import Redis

from flaskyard.metrics import UNMATCHED_ROUTE, scrape_registry, serve_worker_metrics
from tests.support.api import JOBS, problem
from tests.support.backends import SQLITE, TWO_BACKENDS
from tests.support.fixtures import Accounts, _isolated_redis, accounts, jobs_redis_url, redis
from tests.support.jobs import run_inline_worker, start_job
from tests.support.servers import ROOT

__all__ = ["_isolated_redis", "accounts", "jobs_redis_url", "redis"]

TOKEN = secrets.token_urlsafe(32)
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """Every sample of an exposition, keyed by name and labels."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value, 0 when it does not exist yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def scrape(client: FlaskClient) -> Samples:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return parse(response.get_data(as_text=True))


@pytest.fixture
def metrics_app(app_config: dict[str, Any], request: pytest.FixtureRequest) -> APIFlask:
    app_config["METRICS_TOKEN"] = TOKEN
    app: APIFlask = request.getfixturevalue("app")
    return app


@SQLITE
def test_metrics_are_off_without_a_token(client: FlaskClient) -> None:
    problem(client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}), 404)


@SQLITE
@pytest.mark.parametrize(
    "header",
    [None, "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x"],
    ids=["none", "wrong", "other-scheme", "longer"],
)
def test_metrics_need_the_bearer_token(metrics_app: APIFlask, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = metrics_app.test_client().get("/metrics", headers=headers)
    body = problem(response, 401)
    assert "METRICS_TOKEN" in body["detail"]
    assert response.headers["WWW-Authenticate"].lower().startswith("bearer")


@TWO_BACKENDS
def test_requests_are_counted_by_route_template_method_and_status(metrics_app: APIFlask) -> None:
    client = metrics_app.test_client()
    before = scrape(client)
    missing = "00000000-0000-0000-0000-000000000000"
    for _ in range(3):
        assert client.get(f"/api/v1/posts/{missing}").status_code == 404
    assert client.get("/api/v1/posts").status_code == 200
    assert client.delete("/healthz").status_code == 405
    for _ in range(3):  # answered before Flask (but the first), counted all the same
        assert client.get("/healthz").status_code == 200
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    route = "/api/v1/posts/<uuid:post_id>"
    counter = "flaskyard_http_requests_total"
    assert grew(counter, route=route, method="GET", status="404") == 3
    assert grew(counter, route="/api/v1/posts", method="GET", status="200") == 1
    # One series per route, never one per URL: the ids are not in any label.
    assert not any(missing in str(labels) for _, labels in after)
    latency = "flaskyard_http_request_duration_seconds_count"
    assert grew(latency, route=route, method="GET") == 3
    assert (
        grew(counter, route=UNMATCHED_ROUTE, method="DELETE", status="405")
        + grew(counter, route="/healthz", method="DELETE", status="405")
        == 1
    )
    assert grew(counter, route="/healthz", method="GET", status="200") == 3
    assert grew(latency, route="/healthz", method="GET") == 3
    assert value(after, "flaskyard_queue_depth", queue="default") == 0


@pytest.fixture
def json_log(metrics_app: APIFlask) -> Iterator[io.StringIO]:
    """What the app's log handler writes (JSON lines), captured."""
    handler = logging.getLogger("flaskyard").handlers[0]
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    yield stream
    handler.setStream(previous)  # type: ignore[attr-defined]


@TWO_BACKENDS
def test_a_job_moves_the_job_metrics_and_logs_with_its_request_id(
    app_config: dict[str, Any],
    request: pytest.FixtureRequest,
) -> None:
    app_config.update(LOG_FORMAT="json", LOG_LEVEL="INFO")
    app: APIFlask = request.getfixturevalue("metrics_app")
    log = request.getfixturevalue("json_log")
    people: Accounts = request.getfixturevalue("accounts")
    connection: Redis = request.getfixturevalue("redis")
    client = app.test_client()
    worker_metrics = scrape_registry(lambda: connection)
    before = parse(generate_latest(worker_metrics).decode())
    web_before = scrape(client)

    response = client.post(
        JOBS,
        json={"type": "demo", "params": {"seconds": 0.2, "steps": 2}},
        headers={**people.alice, "X-Request-ID": "trace-job-42"},
    )
    assert response.status_code == 202, response.get_data(as_text=True)
    job_id = response.get_json()["id"]
    failing = start_job(client, people.alice, seconds=0.1, steps=1, fail_at=1)
    queued = parse(generate_latest(worker_metrics).decode())
    assert value(queued, "flaskyard_queue_depth", queue="default") == 2
    assert run_inline_worker(app)
    after = parse(generate_latest(worker_metrics).decode())

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("flaskyard_jobs_total", type="demo", status="finished") == 1
    assert grew("flaskyard_jobs_total", type="demo", status="failed") == 1
    assert grew("flaskyard_job_duration_seconds_count", type="demo") == 2
    assert grew("flaskyard_job_duration_seconds_sum", type="demo") >= 0.2
    assert value(after, "flaskyard_queue_depth", queue="default") == 0
    web_after = scrape(client)
    enqueued = value(web_after, "flaskyard_jobs_enqueued_total", type="demo") - value(
        web_before, "flaskyard_jobs_enqueued_total", type="demo"
    )
    assert enqueued == 2

    lines = [json.loads(line) for line in log.getvalue().splitlines() if line.strip()]
    of_job = [line for line in lines if job_id in line["message"]]
    # The job's own lines (started, finished) and RQ's, all with the enqueuing request's id.
    assert {"flaskyard.jobs", "rq.worker"} <= {line["name"] for line in of_job}, of_job
    assert any(line["message"].endswith("started") for line in of_job)
    assert any(line["message"].endswith("finished") for line in of_job)
    # Every line from the job's start on (RQ logs the dequeue itself before the job runs).
    first = next(i for i, line in enumerate(of_job) if line["message"].endswith("started"))
    in_job = of_job[first:]
    assert len(in_job) >= 3, of_job  # started, finished, RQ's "Job OK"
    assert all(line["request_id"] == "trace-job-42" for line in in_job), in_job
    other = [line for line in lines if failing["id"] in line["message"]]
    assert other and all(line["request_id"] != "trace-job-42" for line in other)


@SQLITE
def test_the_worker_serves_its_metrics_on_loopback(
    metrics_app: APIFlask, accounts: Accounts, redis: Redis
) -> None:
    start_job(metrics_app.test_client(), accounts.alice, seconds=0.1, steps=1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    server = serve_worker_metrics(port, redis)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:  # noqa: S310
            text = response.read().decode()
    finally:
        server.shutdown()
        server.server_close()
    samples = parse(text)
    assert value(samples, "flaskyard_queue_depth", queue="default") == 1
    assert ("flaskyard_jobs_enqueued_total", frozenset({("type", "demo")})) in samples


@SQLITE
def test_open_event_streams_are_counted(metrics_app: APIFlask, accounts: Accounts) -> None:
    client = metrics_app.test_client()
    job = start_job(client, accounts.alice, seconds=5, steps=1)
    before = value(scrape(client), "flaskyard_event_streams_open")
    response = client.get(f"{JOBS}/{job['id']}/events", headers=accounts.alice, buffered=False)
    stream = iter(response.response)
    next(stream)  # the stream has started: it is open now
    assert value(scrape(client), "flaskyard_event_streams_open") == before + 1
    response.close()
    assert value(scrape(client), "flaskyard_event_streams_open") == before


def test_the_grafana_dashboard_queries_only_metrics_the_app_defines(redis: Redis) -> None:
    dashboard = json.loads((ROOT / "deploy" / "grafana" / "flaskyard.json").read_text())
    queries = [
        target["expr"]
        for panel in dashboard["panels"]
        for target in panel["targets"]
        if "expr" in target
    ]
    used = {name for query in queries for name in re.findall(r"\bflaskyard_[a-z_]+", query)}
    families = list(scrape_registry(lambda: redis).collect())
    defined = {
        family.name + suffix
        for family in families
        for suffix in ("", "_total", "_bucket", "_count", "_sum")
        if family.name.startswith("flaskyard_")
    }
    assert used, "the dashboard has no queries"
    assert used <= defined, used - defined
    panels_by_metric = {name.removesuffix("_total").removesuffix("_bucket") for name in used}
    assert {f.name for f in families if f.name.startswith("flaskyard_")} <= panels_by_metric
