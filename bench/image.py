"""Benchmark the container image: size over its base, start → ready, RSS per gunicorn worker.

Needs a built image (``FLASKYARD_IMAGE``, default ``flaskyard:latest``), a running Docker engine,
PostgreSQL on 127.0.0.1:5432 and Redis on 127.0.0.1:6379 (the same host services the tests use).
Containers use the host network and bind 127.0.0.1 only.

Steps: read the image's and its base's sizes (the base is the image's
``org.opencontainers.image.base.name`` label, or ``PYTHON_IMAGE``); create a scratch database
and migrate it with the ``migrate`` role; start the ``web`` role ``BENCH_STARTS`` times (3) and
time ``docker run`` → first ``/readyz`` 200; then send ``BENCH_REQUESTS`` (1,000) requests to a
web container and to bench/baseline.py (a bare Flask app) under the same gunicorn settings in
the same image, and read each worker's RSS and PSS (gunicorn.conf.py imports flaskyard, so
the "bare" workers also fork from a master holding the app's libraries: compare PSS too).
Then the breakdown of both: the venv's bytes per distribution, and what importing each of the
heaviest libraries adds to a process's RSS, in the order the app loads them (a library's
share of a dependency both use goes to whichever comes first), then the app built on top.
Prints a table with the goals, writes ``bench/results/image.json``. Exit 0 when measured
(goals met or not), 1 on a harness error.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import psycopg

BENCH_DIR = Path(__file__).resolve().parent
RESULTS_FILE = BENCH_DIR / "results" / "image.json"
IMAGE = os.environ.get("FLASKYARD_IMAGE", "flaskyard:latest")
PG_ADMIN = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
STARTS = int(os.environ.get("BENCH_STARTS", "3"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "1000"))
WORKERS = 2
GOALS = {"size_mb": 80.0, "start_s": 5.0, "rss_mb": 80.0}
# Worker RSS read inside the container: gunicorn workers are the master's children.
RSS_SCRIPT = """
import pathlib
master = int(pathlib.Path('/tmp/gunicorn.pid').read_text())
for proc in pathlib.Path('/proc').glob('[0-9]*'):
    try:
        lines = (proc / 'status').read_text().splitlines()
        status = dict(line.split(':', 1) for line in lines if ':' in line)
    except OSError:
        continue
    if int(status['PPid']) == master:
        rollup = (proc / 'smaps_rollup').read_text().splitlines()
        pss = next(int(line.split()[1]) for line in rollup if line.startswith('Pss:'))
        print(int(status['VmRSS'].split()[0]) // 1024, pss // 1024)
"""


#: Run in the image: bytes per distribution, then RSS added by each import, in app order.
BREAKDOWN_SCRIPT = """
import importlib, json, sys

def rss():
    with open("/proc/self/status") as status:
        return next(int(l.split()[1]) for l in status if l.startswith("VmRSS")) / 1024

# The readings come first: the venv scan below imports importlib.metadata and email, which
# would otherwise count as the bare interpreter's.
steps = {}
last = rss()
steps["python"] = last
for label, modules in (
    ("gunicorn", ["gunicorn.app.wsgiapp", "gunicorn.workers.gthread"]),
    ("pydantic, pydantic-settings", ["pydantic", "pydantic_settings"]),
    ("sqlalchemy", ["sqlalchemy", "sqlalchemy.orm"]),
    ("flask, werkzeug, jinja2, click", ["flask"]),
    ("apiflask, marshmallow, apispec, webargs", ["apiflask"]),
    ("redis", ["redis"]),
    ("rq", ["rq"]),
    ("psycopg + sqlalchemy's dialect", ["psycopg", "sqlalchemy.dialects.postgresql.psycopg"]),
    ("sqlalchemy's mysql dialect", ["sqlalchemy.dialects.mysql"]),
    ("flask-jwt-extended, pyjwt, cryptography", ["flask_jwt_extended"]),
    ("flask-limiter, limits", ["flask_limiter"]),
    ("flask-babel, babel, pytz", ["flask_babel"]),
    ("prometheus-client", ["prometheus_client"]),
    ("argon2-cffi", ["argon2"]),
    ("the app (flaskyard, built)", None),
):
    if modules is None:
        from flaskyard import create_app
        create_app().test_client().get("/api/v1/posts").close()
    else:
        for module in modules:
            importlib.import_module(module)
    now = rss()
    steps[label] = round(now - last, 1)
    last = now
steps["total"] = round(last, 1)
modules = len(sys.modules)

import sysconfig
from collections import Counter
from importlib.metadata import packages_distributions
from pathlib import Path

site = Path(sysconfig.get_paths()["purelib"])
owner = {name: dists[0] for name, dists in packages_distributions().items()}
sizes = Counter()
for entry in site.iterdir():
    name = entry.name.split(".")[0] if entry.is_dir() else entry.name.split(".")[0]
    name = name.removesuffix("-stubs")
    if entry.name.endswith(".dist-info"):
        name = entry.name.split("-")[0]
        dist = name
    else:
        dist = owner.get(name) or owner.get(entry.name.removesuffix(".libs")) or name
    files = entry.rglob("*") if entry.is_dir() else [entry]
    sizes[dist.lower().replace("_", "-")] += sum(p.stat().st_size for p in files if p.is_file())
print(json.dumps({"venv_bytes": dict(sizes.most_common()), "import_rss_mb": steps,
                  "modules": modules}))
"""


class HarnessError(Exception):
    """The benchmark could not run; the message says why."""


def docker(*args: str, timeout: float = 300) -> str:
    result = subprocess.run(
        ["docker", *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if result.returncode != 0:
        raise HarnessError(f"docker {' '.join(args[:3])} failed: {result.stderr.strip()[-500:]}")
    return result.stdout


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def get(url: str, timeout: float = 3) -> int:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - loopback
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return int(exc.code)


def image_sizes() -> dict[str, Any]:
    info = json.loads(docker("image", "inspect", IMAGE))[0]
    labels = info["Config"].get("Labels") or {}
    base = os.environ.get("PYTHON_IMAGE") or labels.get("org.opencontainers.image.base.name")
    result: dict[str, Any] = {"image": IMAGE, "image_mb": round(info["Size"] / 1e6, 1)}
    if base:
        base_size = json.loads(docker("image", "inspect", base))[0]["Size"]
        result.update(base=base, size_mb=round((info["Size"] - base_size) / 1e6, 1))
    return result


class Scratch:
    """A throwaway database, secret files, and the containers started against them."""

    def __init__(self) -> None:
        self.db = f"flaskyard_bench_image_{uuid.uuid4().hex[:6]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {self.db}")
        self.secrets = Path(tempfile.mkdtemp(prefix="flaskyard-bench-"))
        for name in ("secret_key", "jwt_secret_key"):
            (self.secrets / name).write_text(secrets.token_urlsafe(48), encoding="utf-8")
            (self.secrets / name).chmod(0o644)
        self.secrets.chmod(0o755)
        self.names: list[str] = []

    def run(
        self, *command: str, port: int = 0, detach: bool = True, extra: tuple[str, ...] = ()
    ) -> str:
        name = f"flaskyard-bench-{uuid.uuid4().hex[:8]}"
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://")
        args = ["run", "--name", name, "--network", "host", "-v", f"{self.secrets}:/run/secrets:ro"]
        args += ["-e", f"DATABASE_URL={url}/{self.db}", "-e", f"REDIS_URL={REDIS_URL}"]
        args += ["-e", "SECRET_KEY=DOCKER-SECRET->secret_key"]
        args += ["-e", "JWT_SECRET_KEY_FILE=/run/secrets/jwt_secret_key", "-e", "LOG_LEVEL=WARNING"]
        args += ["-e", f"GUNICORN_BIND=127.0.0.1:{port}", "-e", f"GUNICORN_WORKERS={WORKERS}"]
        args += ["-d"] if detach else []
        self.names.append(name)
        docker(*args, *extra, IMAGE, *command)
        return name

    def close(self) -> None:
        for name in self.names:
            subprocess.run(["docker", "rm", "-f", "-v", name], capture_output=True, check=False)
        with psycopg.connect(PG_ADMIN, autocommit=True) as connection:
            connection.execute(f"DROP DATABASE IF EXISTS {self.db} WITH (FORCE)")
        for path in self.secrets.iterdir():
            path.unlink()
        self.secrets.rmdir()


def wait_ready(port: int, name: str, timeout: float = 60) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if get(f"http://127.0.0.1:{port}/readyz") == 200:
                return time.monotonic() - started
        except OSError:
            pass
        time.sleep(0.05)
    raise HarnessError(f"{name} was not ready within {timeout} s")


def start_times(scratch: Scratch) -> list[float]:
    times = []
    for _ in range(STARTS):
        port = free_port()
        started = time.monotonic()
        name = scratch.run("web", port=port)
        wait_ready(port, name)
        times.append(round(time.monotonic() - started, 2))
        docker("rm", "-f", "-v", name)
    return times


def worker_rss(scratch: Scratch, *, baseline: bool) -> list[list[int]]:
    """[RSS, PSS] in MB of each gunicorn worker after REQUESTS requests."""
    port = free_port()
    extra: tuple[str, ...] = ()
    command: tuple[str, ...] = ("web",)
    path = "/api/v1/posts"
    if baseline:
        # The bare Flask app, under the same gunicorn.conf.py, in the same image.
        extra = ("-v", f"{BENCH_DIR}:/bench:ro", "--entrypoint", "gunicorn")
        command = ("--config", "/app/gunicorn.conf.py", "--chdir", "/bench", "baseline:app")
        path = "/json"
    name = scratch.run(*command, port=port, extra=extra)
    started = time.monotonic()
    while time.monotonic() - started < 60:
        try:
            if get(f"http://127.0.0.1:{port}{path}") == 200:
                break
        except OSError:
            time.sleep(0.1)
    for _ in range(REQUESTS):
        status = get(f"http://127.0.0.1:{port}{path}", timeout=10)
        if status != 200:
            raise HarnessError(f"{path} answered {status}")
    output = docker("exec", name, "python", "-c", RSS_SCRIPT)
    docker("rm", "-f", "-v", name)
    return sorted([int(n) for n in line.split()] for line in output.splitlines() if line.strip())


def breakdown(scratch: Scratch) -> dict[str, Any]:
    """Bytes per distribution in the venv and RSS per library import (BREAKDOWN_SCRIPT)."""
    name = scratch.run("-c", BREAKDOWN_SCRIPT, detach=False, extra=("--entrypoint", "python"))
    output = docker("logs", name)
    data: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return data


def print_breakdown(data: dict[str, Any]) -> None:
    sizes = data["venv_bytes"]
    print(f"  venv by distribution ({sum(sizes.values()) / 1e6:.1f} MB):")
    for dist, size in list(sizes.items())[:20]:
        print(f"    {dist:36} {size / 1e6:6.1f} MB")
    rest = list(sizes.values())[20:]
    print(f"    {f'{len(rest)} others':36} {sum(rest) / 1e6:6.1f} MB")
    print(f"  RSS added by each import, in the app's order ({data['modules']} modules):")
    for label, mb in data["import_rss_mb"].items():
        print(f"    {label:42} {mb:6.1f} MB")


def main() -> int:
    """Measure and print; exit 1 when the harness itself fails."""
    try:
        result: dict[str, Any] = image_sizes()
        scratch = Scratch()
        try:
            scratch.run("migrate", detach=False)  # the schema exists before the timed starts
            result["start_to_ready_s"] = start_times(scratch)
            result["rss_pss_mb_per_worker"] = worker_rss(scratch, baseline=False)
            result["baseline_rss_pss_mb_per_worker"] = worker_rss(scratch, baseline=True)
            result["breakdown"] = breakdown(scratch)
        finally:
            scratch.close()
    except (HarnessError, OSError, subprocess.SubprocessError) as exc:
        print(f"bench/image.py: {exc}", file=sys.stderr)
        return 1
    start = statistics.median(result["start_to_ready_s"])
    rss, pss = max(result["rss_pss_mb_per_worker"])
    bare_rss, bare_pss = max(result["baseline_rss_pss_mb_per_worker"])
    rows = [
        (
            "image size over base",
            f"{result.get('size_mb', '?')} MB",
            GOALS["size_mb"],
            result.get("size_mb"),
        ),
        ("start → /readyz 200 (median)", f"{start:.2f} s", GOALS["start_s"], start),
        (
            f"RSS per worker after {REQUESTS} req",
            f"{rss} MB, PSS {pss} (bare Flask: {bare_rss}, PSS {bare_pss})",
            GOALS["rss_mb"],
            rss,
        ),
    ]
    print(f"image {IMAGE} on {result.get('base', 'unknown base')}")
    for label, shown, goal, value in rows:
        verdict = "?" if value is None else ("met" if value <= goal else "MISSED")
        print(f"  {label:32} {shown:36} goal ≤ {goal:g}  {verdict}")
    print_breakdown(result["breakdown"])
    RESULTS_FILE.parent.mkdir(exist_ok=True)
    RESULTS_FILE.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
