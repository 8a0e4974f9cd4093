"""compose.yaml for real (with the CI host-network overlay): its own PostgreSQL, Redis and
MariaDB, dependency order, one migration, a job, commands in the stack, data across down/up.

The tests share one stack (the session's ``stack`` fixture) and run in file order.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time

import pytest
from redis import Redis

from tests.containers.conftest import (
    docker,
    http,
    migration_heads,
    run_demo_job,
    scalar,
    sign_up,
    start_demo_job,
    wait_until,
)
from tests.containers.stack import APP_SERVICES, ROOT, Stack, compose_v1, timestamp
from tests.test_metrics import Samples, parse, value

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]


def test_compose_files_are_valid_for_compose_v2_and_v1(stack: Stack) -> None:
    file_sets = (
        ("compose.yaml", "compose.override.yaml"),
        ("compose.yaml", "compose.dev.yaml"),
        ("compose.yaml", "compose.ci.yaml"),
    )
    for files in file_sets:
        stack("--profile", "mysql", "config", "-q", files=files)
    v1 = compose_v1()
    if v1 is None:
        pytest.skip("docker-compose 1.x is not installed; checked with Compose v2 only.")
    for files in file_sets:
        paths = [arg for name in files for arg in ("-f", str(ROOT / name))]
        result = subprocess.run(
            [v1, *paths, "--profile", "mysql", "config", "-q"],
            cwd=ROOT,
            env=stack.env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert result.returncode == 0, result.stderr


def test_up_wait_starts_the_app_only_after_db_and_redis_are_healthy(stack: Stack) -> None:
    stack("--profile", "mysql", "down", "-v")  # from nothing, whatever ran before
    took = stack.up(*APP_SERVICES)
    print(f"\nup --wait (db, redis, then web, worker, dashboard): {took:.1f} s")
    states = {entry["Service"]: entry for entry in stack.ps()}
    for service in ("db", "redis", *APP_SERVICES):
        assert states[service]["State"] == "running", states[service]
        assert states[service]["Health"] == "healthy", states[service]
    since = stack.last_up - 1
    ready = max(stack.healthy_since("db", since), stack.healthy_since("redis", since))
    for service in APP_SERVICES:
        started = stack.state(service)["State"]["StartedAt"]
        assert timestamp(started) >= ready, f"{service} started before db and redis were healthy"
    # The database and Redis images: non-root, read-only root, every capability dropped.
    for service, uid in (("db", "999:999"), ("redis", "999:999")):
        config = stack.state(service)
        assert config["Config"]["User"] == uid
        assert config["HostConfig"]["ReadonlyRootfs"] is True
        assert config["HostConfig"]["CapDrop"] == ["ALL"]
    assert stack.container("db").exec("id", "-u").stdout.strip() == "999"
    # PostgreSQL was initialised as asked: UTF-8 with the C.UTF-8 locale.
    assert scalar(stack.database_url, "SHOW server_encoding") == "UTF8"
    assert scalar(stack.database_url, "SHOW lc_collate") == "C.UTF-8"


def test_migrations_ran_once(stack: Stack) -> None:
    logs = stack.logs(*APP_SERVICES)
    assert logs.count("Running upgrade") == migration_heads(), logs[-3000:]
    assert scalar(stack.database_url, "SELECT COUNT(*) FROM alembic_version") == 1


def test_a_job_enqueued_through_the_api_finishes(stack: Stack) -> None:
    web = stack.container("web")
    token = sign_up(web.base)
    job = run_demo_job(web.base, token, seconds=1, steps=2)
    assert job["status"] == "finished", job
    assert job["progress_seen"][-1] == 100
    status, _ = http("GET", f"http://127.0.0.1:{stack.ports['dashboard']}/admin/rq/")
    assert status == 401  # the dashboard is up, and only for admins


def test_web_and_worker_metrics_are_scraped_during_a_job(stack: Stack) -> None:
    web = stack.container("web")
    worker_metrics = f"http://127.0.0.1:{stack.ports['worker-metrics']}/metrics"
    bearer = {"Authorization": f"Bearer {stack.metrics_token}"}

    def scrape(url: str, headers: dict[str, str] | None = None) -> Samples:
        status, text = http("GET", url, headers=headers)
        assert status == 200, text
        return parse(str(text))

    status, _ = http("GET", web.base + "/metrics")
    assert status == 401  # the web's /metrics needs the token compose.yaml gives it
    token = sign_up(web.base)
    worker_before = scrape(worker_metrics)
    job = start_demo_job(web.base, token, seconds=4, steps=4)

    def running() -> bool:
        state = http("GET", f"{web.base}/api/v1/jobs/{job['id']}", token=token)[1]
        assert state["status"] in ("queued", "started"), state
        return bool(state["status"] == "started")

    wait_until(running, 30, "the job to start")
    during_web = scrape(web.base + "/metrics", bearer)
    during_worker = scrape(worker_metrics)
    assert value(during_web, "flaskyard_jobs_enqueued_total", type="demo") >= 1
    posted = {"route": "/api/v1/jobs", "method": "POST", "status": "202"}
    assert value(during_web, "flaskyard_http_requests_total", **posted) >= 1
    assert (
        value(
            during_web,
            "flaskyard_http_request_duration_seconds_count",
            route="/api/v1/jobs",
            method="POST",
        )
        >= 1
    )
    for samples in (during_web, during_worker):
        assert ("flaskyard_queue_depth", frozenset({("queue", "default")})) in samples
    finished = {"type": "demo", "status": "finished"}
    # Still running: the worker has not counted it yet.
    assert value(during_worker, "flaskyard_jobs_total", **finished) == value(
        worker_before, "flaskyard_jobs_total", **finished
    )

    wait_until(
        lambda: (
            http("GET", f"{web.base}/api/v1/jobs/{job['id']}", token=token)[1]["status"]
            == "finished"
        ),
        60,
        "the job to finish",
    )
    after = scrape(worker_metrics)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(worker_before, name, **labels)

    assert grew("flaskyard_jobs_total", **finished) == 1
    assert grew("flaskyard_job_duration_seconds_count", type="demo") == 1
    assert grew("flaskyard_job_duration_seconds_sum", type="demo") >= 4
    print(
        f"\n/metrics during a job: web {len(during_web)} samples, worker {len(during_worker)}; "
        f"after it: demo jobs finished +{grew('flaskyard_jobs_total', **finished):.0f}"
    )


def test_flask_commands_run_in_the_stack(stack: Stack) -> None:
    # A one-off container of the web service, with its secrets and settings.
    result = stack("run", "--rm", "--no-deps", "web", "flask", "seed")
    assert "Default roles present" in result.stdout, result.stdout + result.stderr
    assert stack("ps", "-a", "-q", "--status", "exited", "web").stdout.strip() == ""
    # restart-workers from outside: a graceful reload of the running server's workers.
    web = stack.container("web")
    result = stack("exec", "-T", "web", "flask", "restart-workers")
    assert "Sent SIGHUP" in result.stdout, result.stdout + result.stderr
    wait_until(lambda: "Handling signal: hup" in web.logs(), 30, "gunicorn to take the SIGHUP")
    status, _ = http("GET", web.base + "/readyz")
    assert status == 200


def test_data_survives_down_and_up(stack: Stack) -> None:
    web = stack.container("web")
    token = sign_up(web.base)
    status, post = http(
        "POST",
        web.base + "/api/v1/posts",
        {"title": "Kept", "body": "Across down/up."},
        token=token,
    )
    assert status == 201, post
    redis = Redis.from_url(stack.redis_url)
    redis.set("flaskyard-test:kept", "yes")
    redis.close()
    volumes = stack.volumes()
    dangling = set(docker("volume", "ls", "-q", "--filter", "dangling=true").stdout.split())
    stack("down")  # no -v: named volumes stay
    assert stack.volumes() == volumes
    # ... and no anonymous volume is left behind (the image declares /data/uploads a VOLUME).
    left = set(docker("volume", "ls", "-q", "--filter", "dangling=true").stdout.split())
    assert left - set(volumes) <= dangling, left - set(volumes) - dangling
    assert stack.ps() == []
    took = stack.up(*APP_SERVICES)
    print(f"\nup --wait again on the kept volumes: {took:.1f} s")
    web = stack.container("web")
    status, body = http("GET", f"{web.base}/api/v1/posts/{post['id']}")
    assert status == 200 and body["title"] == "Kept", body
    redis = Redis.from_url(stack.redis_url)
    assert redis.get("flaskyard-test:kept") == b"yes"  # the snapshot written at shutdown
    redis.close()
    # The database was not initialised again, and the app found nothing to migrate.
    assert "initialised database" not in stack.logs("db")
    assert stack.logs("web").count("Running upgrade") == 0


def test_mysql_profile_boots_and_migrates_its_own_mariadb(stack: Stack) -> None:
    try:
        took = stack.up("mysql", "web-mysql", "worker-mysql", profile="mysql")
        print(f"\nup --wait (mysql profile, next to the default stack): {took:.1f} s")
        web = stack.container("web-mysql")
        assert web.logs().count("Running upgrade") == migration_heads()
        assert scalar(stack.mysql_url, "SELECT COUNT(*) FROM alembic_version") == 1
        assert scalar(stack.mysql_url, "SELECT @@character_set_server") == "utf8mb4"
        assert stack.state("mysql")["Config"]["User"] == "999:999"
        # The default stack's worker runs too: the profile's own Redis database keeps its jobs
        # for worker-mysql, the only worker that finds their rows.
        assert stack.state("worker")["State"]["Running"]
        token = sign_up(web.base)
        for _ in range(3):
            job = run_demo_job(web.base, token, seconds=0.2, steps=1)
            assert job["status"] == "finished", job
    finally:
        started = time.monotonic()
        stack("--profile", "mysql", "stop", "web-mysql", "worker-mysql", "mysql")
        print(f"mysql profile stopped in {time.monotonic() - started:.1f} s")


def test_dev_overlay_reloads_python_and_rebuilds_assets(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # A copy of the checkout is mounted (DEV_SOURCE) and edited, never the checkout itself.
    source = tmp_path_factory.mktemp("dev-source")
    # The front end watcher is compose.dev.yaml's only service compose.ci.yaml cannot name.
    host_frontend = source / "compose.frontend-host.yaml"
    host_frontend.write_text("services:\n  frontend:\n    network_mode: host\n")
    dev_files = ("compose.yaml", "compose.dev.yaml", "compose.ci.yaml", str(host_frontend))
    skip = shutil.ignore_patterns("__pycache__", "node_modules", "dist", "*.mo")
    for name in ("flaskyard", "frontend", "requirements"):
        shutil.copytree(ROOT / name, source / name, ignore=skip)
    # A lock that differs from the one the dev image installed: the container's start installs it.
    lock = source / "requirements" / "dev.txt"
    lock.write_text(lock.read_text() + "# changed after the image was built\n")
    for path in [source, *source.rglob("*")]:
        os.chown(path, 10001, 10001)
    stack.env.update(
        DEV_SOURCE=str(source),
        DEV_UID="10001",
        DEV_GID="10001",
    )
    # CI tags the Dockerfile's dev stage next to the image (its classic build passes through it
    # anyway); elsewhere Compose builds it here.
    if docker("image", "inspect", stack.env["FLASKYARD_DEV_IMAGE"], check=False).returncode:
        started = time.monotonic()
        stack("build", "web", files=dev_files, timeout=900)
        print(f"\ndev image built in {time.monotonic() - started:.0f} s")
    try:
        took = stack.up("web", "frontend", files=dev_files)
        print(f"up --wait (dev overlay: web with the reloader, rollup -w): {took:.1f} s")
        web = stack.container("web")
        assert "Debugger is active" in web.logs() or "debug" in web.logs().lower()
        assert "requirements/dev.txt changed; installing it" in web.logs(), web.logs()[-3000:]
        status, body = http("GET", web.base + "/healthz")
        assert status == 200 and body == {"status": "ok"}, body

        health = source / "flaskyard" / "health.py"
        text = health.read_text()
        edited = text.replace('return {"status": "ok"}', 'return {"status": "ok", "edited": "yes"}')
        assert edited != text
        health.write_text(edited)
        changed = time.monotonic()

        def reloaded() -> bool:
            try:
                body = http("GET", web.base + "/healthz", timeout=3)[1]
                return bool(body == {"status": "ok", "edited": "yes"})
            except OSError:
                return False

        wait_until(reloaded, 60, "the edited health.py to be served")
        print(f"python edit served after {time.monotonic() - changed:.1f} s")

        def stylesheet() -> str:
            status, page = http("GET", web.base + "/")
            found = re.search(r'href="(/assets/app-[^"]+\.css)"', str(page))
            if status != 200 or not found:
                return ""
            return str(http("GET", web.base + found.group(1))[1])

        wait_until(lambda: bool(stylesheet()), 240, "rollup's first build to be served")
        styles = source / "frontend" / "src" / "styles.css"
        styles.write_text(styles.read_text() + "\n.dev-reload-marker { color: #123456; }\n")
        changed = time.monotonic()
        wait_until(lambda: "dev-reload-marker" in stylesheet(), 120, "the rebuilt stylesheet")
        print(f"stylesheet edit served after {time.monotonic() - changed:.1f} s")
    finally:
        stack(
            "rm", "--stop", "--force", "--volumes", "web", "frontend", files=dev_files, check=False
        )
        docker("volume", "rm", "-f", f"{stack.project}_dev-data", check=False)
