"""One compose project of compose.yaml + compose.ci.yaml on the host network, for several tests.

Its PostgreSQL, Redis and MariaDB are compose.yaml's own services, built from
docker/services/*/Dockerfile on ``SERVICE_BASE_IMAGE`` (CI: ``ci/debian:bookworm``) and bound to
free loopback ports; the app services use them through the secret DSNs written here.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flaskyard.devserver import free_port
from tests.containers.conftest import Container

ROOT = Path(__file__).resolve().parents[2]
#: Compose v2 as `make compose` installs it (a docker CLI plugin that also runs on its own).
COMPOSE_PLUGIN = ROOT / ".venv" / "libexec" / "docker" / "cli-plugins" / "docker-compose"
SERVICE_BASE_IMAGE = os.environ.get("SERVICE_BASE_IMAGE", "ci/debian:bookworm")
#: The bases compose.dev.yaml builds (and runs the front end) on: the CI engine's local ones.
DEV_BASES = {
    "PYTHON_IMAGE": os.environ.get("PYTHON_IMAGE", "ci/python:3.11-slim"),
    "NODE_IMAGE": os.environ.get("NODE_IMAGE", "ci/node:18-slim"),
}
APP_SERVICES = ("web", "worker", "dashboard")


def compose_v2() -> list[str]:
    """The Compose v2 command line, or a skip (a failure with REQUIRE_DOCKER=1) without one."""
    candidates = [[str(COMPOSE_PLUGIN)]] if COMPOSE_PLUGIN.exists() else []
    candidates.append(["docker", "compose"])
    for command in candidates:
        found = subprocess.run(
            [*command, "version", "--short"], capture_output=True, text=True, check=False
        )
        if found.returncode == 0 and found.stdout.strip().lstrip("v").startswith("2."):
            return command
    message = "Compose v2 is not installed (run `make compose`)."
    if os.environ.get("REQUIRE_DOCKER", "") not in ("", "0", "false"):
        pytest.fail(message)
    pytest.skip(message)


def timestamp(text: str) -> datetime:
    """A Docker RFC 3339 time (nanoseconds) as a datetime (microseconds)."""
    head, _, rest = text.partition(".")
    fraction = "".join(ch for ch in rest if ch.isdigit())[:6]
    zone = rest[len("".join(ch for ch in rest if ch.isdigit())) :] or "Z"
    return datetime.fromisoformat(f"{head}.{fraction or '0'}{zone.replace('Z', '+00:00')}")


class Stack:
    """``docker compose -p <project> -f compose.yaml -f compose.ci.yaml ...`` with its secrets."""

    def __init__(self, image: str, folder: Path) -> None:
        self.command = compose_v2()
        self.project = f"fystack{uuid.uuid4().hex[:8]}"
        self.ports = {
            name: free_port()
            for name in ("web", "dashboard", "web-mysql", "db", "redis", "mysql", "worker-metrics")
        }
        self.passwords = {
            name: secrets.token_urlsafe(24)
            for name in ("db_password", "mysql_password", "mysql_root_password")
        }
        self.secrets = folder / "secrets"
        self.secrets.mkdir(mode=0o755)
        self.database_url = (
            f"postgresql+psycopg://flaskyard:{self.passwords['db_password']}"
            f"@127.0.0.1:{self.ports['db']}/flaskyard"
        )
        self.mysql_url = (
            f"mysql+pymysql://flaskyard:{self.passwords['mysql_password']}"
            f"@127.0.0.1:{self.ports['mysql']}/flaskyard"
        )
        self.redis_url = f"redis://127.0.0.1:{self.ports['redis']}/0"
        self.metrics_token = secrets.token_urlsafe(48)
        self.last_up = time.time()
        values = {
            "secret_key": secrets.token_urlsafe(48),
            "jwt_secret_key": secrets.token_urlsafe(48),
            "metrics_token": self.metrics_token,
            "database_url": self.database_url,
            "mysql_database_url": self.mysql_url,
            **self.passwords,
        }
        for name, value in values.items():
            path = self.secrets / name
            path.write_text(value + "\n", encoding="utf-8")
            path.chmod(0o644)  # read by uid 10001 (app) and 999 (databases) in the containers
        self.env = {
            **os.environ,
            "FLASKYARD_IMAGE": image,
            "FLASKYARD_DEV_IMAGE": f"{image}-dev",
            **DEV_BASES,
            "SERVICE_BASE_IMAGE": SERVICE_BASE_IMAGE,
            "SECRETS_PATH": str(self.secrets),
            "CI_WEB_PORT": str(self.ports["web"]),
            "CI_DASHBOARD_PORT": str(self.ports["dashboard"]),
            "CI_WEB_MYSQL_PORT": str(self.ports["web-mysql"]),
            "CI_DB_PORT": str(self.ports["db"]),
            "CI_REDIS_PORT": str(self.ports["redis"]),
            "CI_MYSQL_PORT": str(self.ports["mysql"]),
            "CI_WORKER_METRICS_PORT": str(self.ports["worker-metrics"]),
        }

    def __call__(
        self, *args: str, check: bool = True, timeout: float = 300, files: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        names = files or ("compose.yaml", "compose.ci.yaml")
        paths = [arg for name in names for arg in ("-f", str(ROOT / name))]
        command = [*self.command, "-p", self.project, *paths, *args]
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            raise AssertionError(
                f"{' '.join(command[-len(args) - 1 :])} failed ({result.returncode}):\n"
                f"{result.stdout[-2000:]}\n{result.stderr[-3000:]}"
            )
        return result

    def up(self, *services: str, profile: str | None = None, files: tuple[str, ...] = ()) -> float:
        """``up -d --wait`` the services (and what they depend on); return the seconds it took."""
        self.last_up = time.time()
        started = time.monotonic()
        extra = ("--profile", profile) if profile else ()
        wait = ("up", "-d", "--wait", "--wait-timeout", "240", "--no-build")
        self(*extra, *wait, *services, files=files)
        return time.monotonic() - started

    def container(self, service: str) -> Container:
        name = self("ps", "-a", "-q", service).stdout.strip()
        assert name, f"no container for {service}"
        port = self.ports.get(service, 0)
        return Container(name, port)

    def state(self, service: str) -> dict[str, Any]:
        return self.container(service).state()

    def healthy_since(self, service: str, since: float) -> datetime:
        """When the service's container first turned healthy after ``since`` (Unix time).

        Read from the engine's events: a container's own health log keeps only five checks.
        """
        container = self.container(service).name
        result = subprocess.run(
            [
                "docker", "events", "--since", f"{since:.3f}", "--until", f"{time.time():.3f}",
                "--filter", f"container={container}", "--filter", "event=health_status",
                "--format", "{{json .}}",
            ],
            capture_output=True, text=True, check=True, timeout=60,
        )  # fmt: skip
        events = [json.loads(line) for line in result.stdout.splitlines() if line.strip()]
        healthy = [e for e in events if e.get("status", e.get("Action", "")).endswith(": healthy")]
        assert healthy, f"{service} never turned healthy since {since}: {events}"
        return datetime.fromtimestamp(min(e["timeNano"] for e in healthy) / 1e9, tz=UTC)

    def logs(self, *services: str) -> str:
        return self("logs", "--no-color", *services, check=False).stdout

    def _labelled(self, kind: str) -> list[str]:
        """Ids of the ``kind`` objects (volume, network) Compose labelled with this project."""
        label = f"label=com.docker.compose.project={self.project}"
        result = subprocess.run(
            ["docker", kind, "ls", "-q", "--filter", label],
            capture_output=True,
            text=True,
            check=True,
        )
        return sorted(result.stdout.split())

    def volumes(self) -> list[str]:
        return self._labelled("volume")

    def networks(self) -> list[str]:
        """Networks Compose made for this project (none may exist on the CI engine)."""
        return self._labelled("network")

    def ps(self) -> list[dict[str, Any]]:
        out = self("ps", "-a", "--format", "json").stdout
        return [json.loads(line) for line in out.splitlines() if line.strip()]


def compose_v1() -> str | None:
    """docker-compose 1.x, when installed (only to check that it still reads the files)."""
    return shutil.which("docker-compose")
