"""Production processes as the image runs them: JSON log lines everywhere, merged metrics.

``python -m flaskyard.boot web`` (migrations, then gunicorn with two workers) and
``python -m flaskyard.boot worker --burst`` run as subprocesses on a fresh SQLite file and the
test Redis; every line either writes must be one JSON object.
"""

from __future__ import annotations

import json
import secrets
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from flaskyard.devserver import free_port
from tests.support.servers import ROOT, clean_environ
from tests.test_metrics import parse, value

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.timeout(180)]
TOKEN = secrets.token_urlsafe(32)


def _call(
    base: str, method: str, path: str, body: Any = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    sent = {"Content-Type": "application/json", **(headers or {})} if data else dict(headers or {})
    request = urllib.request.Request(base + path, data=data, method=method, headers=sent)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=15) as response:  # noqa: S310
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read()
        exc.close()
    text = raw.decode()
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def _json_lines(path: Path) -> list[dict[str, Any]]:
    lines = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise AssertionError(f"{path.name} line {number} is not JSON: {line!r}") from None
    return lines


def _names(lines: list[dict[str, Any]]) -> set[str]:
    return {str(line.get("name")) for line in lines}


def test_production_processes_log_json_lines_and_merge_metrics(
    redis_url: str, tmp_path: Path
) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = clean_environ(
        {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'prod.db'}",
            "REDIS_URL": redis_url,
            "INSTANCE_DIR": str(tmp_path / "instance"),
            "UPLOAD_DIR": str(tmp_path / "uploads"),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "GUNICORN_WORKERS": "2",
            "GUNICORN_PID_FILE": str(tmp_path / "gunicorn.pid"),
            "METRICS_TOKEN": TOKEN,
            # The test signs up and writes at once; confirming by mail is not what it checks.
            "REQUIRE_VERIFIED_EMAIL": "false",
            "RATELIMIT_KEY_PREFIX": f"test-{secrets.token_hex(8)}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    web_log, worker_log = tmp_path / "web.log", tmp_path / "worker.log"
    with web_log.open("wb") as out:
        web = subprocess.Popen(
            [sys.executable, "-m", "flaskyard.boot", "web"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert web.poll() is None, web_log.read_text()
            try:
                if _call(base, "GET", "/readyz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, web_log.read_text()
            time.sleep(0.2)

        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(lambda _: _call(base, "GET", "/healthz")[0], range(30)))
        assert statuses == [200] * 30
        # Each scrape may be answered by either worker; each must see all 30 requests.
        seen = set()
        for _ in range(6):
            status, text = _call(
                base, "GET", "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}
            )
            assert status == 200, text
            seen.add(
                value(
                    parse(text),
                    "flaskyard_http_requests_total",
                    route="/healthz",
                    method="GET",
                    status="200",
                )
            )
        assert seen == {30.0}
        # gunicorn.conf.py made the multiprocess folder, one per server (the master's pid).
        metrics_dir = Path(tempfile.gettempdir(), f"flaskyard-metrics-{web.pid}")
        assert list(metrics_dir.glob("counter_*.db"))

        name = f"u{secrets.token_hex(5)}"
        password = secrets.token_urlsafe(16)
        account = {"username": name, "email": f"{name}@example.com", "password": password}
        assert _call(base, "POST", "/api/v1/auth/register", account)[0] == 201
        status, body = _call(
            base, "POST", "/api/v1/auth/login", {"username": name, "password": password}
        )
        assert status == 200, body
        auth = {"Authorization": f"Bearer {body['access_token']}", "X-Request-ID": "prod-trace-7"}
        status, job = _call(
            base, "POST", "/api/v1/jobs", {"type": "demo", "params": {"seconds": 0.2}}, auth
        )
        assert status == 202, job

        with worker_log.open("wb") as out:
            worker = subprocess.run(
                [sys.executable, "-m", "flaskyard.boot", "worker", "--burst"],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=90,
                check=False,
            )
        assert worker.returncode == 0, worker_log.read_text()
        status, done = _call(base, "GET", f"/api/v1/jobs/{job['id']}", headers=auth)
        assert done["status"] == "finished", done
    finally:
        web.send_signal(signal.SIGTERM)
        web.wait(timeout=40)

    web_lines = _json_lines(web_log)
    assert {
        "flaskyard.boot",
        "alembic.runtime.migration",
        "gunicorn.error",
        "gunicorn.access",
        "flaskyard.request",
    } <= _names(web_lines), _names(web_lines)
    access = [line for line in web_lines if line.get("name") == "gunicorn.access"]
    assert any("/healthz" in line["message"] for line in access)
    worker_lines = _json_lines(worker_log)
    assert {"flaskyard.boot", "rq.worker", "flaskyard.jobs"} <= _names(worker_lines)
    of_job = [line for line in worker_lines if line.get("name") == "flaskyard.jobs"]
    assert of_job and all(line["request_id"] == "prod-trace-7" for line in of_job), of_job
    assert not metrics_dir.exists()
