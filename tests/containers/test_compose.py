"""compose.yaml (with the CI host-network overlay): the stack and the mysql profile come up."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.containers.conftest import (
    REDIS_URL,
    Container,
    free_port,
    http,
    migration_heads,
    run_demo_job,
    scalar,
    sign_up,
    wait_ready,
    wait_until,
)

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
ROOT = Path(__file__).resolve().parents[2]


def _compose_command() -> list[str]:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return ["docker", "compose"]


class Stack:
    """One compose project on the host network, torn down (with its volumes) afterwards."""

    def __init__(self, image: str, secrets: Path, *files: str) -> None:
        self.project = f"fytest{uuid.uuid4().hex[:8]}"
        self.files = [arg for name in files for arg in ("-f", str(ROOT / name))]
        self.ports = {name: free_port() for name in ("web", "dashboard", "web-mysql")}
        self.env = {
            **os.environ,
            "FLASKYARD_IMAGE": image,
            "SECRETS_PATH": str(secrets),
            "CI_REDIS_URL": REDIS_URL,
            "CI_WEB_PORT": str(self.ports["web"]),
            "CI_DASHBOARD_PORT": str(self.ports["dashboard"]),
            "CI_WEB_MYSQL_PORT": str(self.ports["web-mysql"]),
        }

    def __call__(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [*_compose_command(), "-p", self.project, *self.files, *args]
        result = subprocess.run(
            command,
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=300,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
        return result

    def container(self, service: str) -> Container:
        name = self("ps", "-q", service).stdout.strip()
        return Container(name, self.ports.get(service, 0))

    def health(self, service: str) -> str:
        state = self.container(service).state()["State"]
        return str(state.get("Health", {}).get("Status", "none"))


@pytest.fixture
def secret_files(tmp_path: Path, postgres_url: str, mysql_url: str) -> Path:
    """The secret files compose.yaml names, pointing the DSNs at the host's servers."""
    import secrets

    folder = tmp_path / "secrets"
    folder.mkdir(mode=0o700)
    values = {
        "secret_key": secrets.token_urlsafe(48),
        "jwt_secret_key": secrets.token_urlsafe(48),
        "database_url": postgres_url,
        "mysql_database_url": mysql_url,
        "db_password": "unused-here",
        "mysql_password": "unused-here",
        "mysql_root_password": "unused-here",
    }
    for name, value in values.items():
        (folder / name).write_text(value + "\n", encoding="utf-8")
        (folder / name).chmod(0o644)
    return folder


@pytest.fixture
def stack(image: str, secret_files: Path) -> Iterator[Stack]:
    project = Stack(image, secret_files, "compose.yaml", "compose.ci.yaml")
    yield project
    logs = project("logs", "--no-color", "--tail", "60", check=False).stdout
    project("--profile", "mysql", "down", "-v", "--remove-orphans", check=False)
    print(logs[-6000:])


def test_compose_files_are_valid(image: str, secret_files: Path) -> None:
    for files in (
        ("compose.yaml", "compose.override.yaml"),
        ("compose.yaml", "compose.dev.yaml"),
        ("compose.yaml", "compose.ci.yaml"),
    ):
        Stack(image, secret_files, *files)("--profile", "mysql", "config", "-q")


def test_compose_stack_is_healthy_and_works_a_job(stack: Stack, postgres_url: str) -> None:
    stack("up", "-d", "--no-deps", "--no-build", "web", "worker", "dashboard")
    web = stack.container("web")
    wait_ready(web)
    # The image's HEALTHCHECK, as compose.yaml runs it, turns each service healthy.
    for service in ("web", "worker", "dashboard"):

        def healthy(name: str = service) -> bool:
            return stack.health(name) == "healthy"

        wait_until(healthy, 120, f"{service} healthy")
    assert web.state()["HostConfig"]["ReadonlyRootfs"] is True
    status, _ = http("GET", f"http://127.0.0.1:{stack.ports['dashboard']}/admin/rq/")
    assert status == 401  # the dashboard is there, and only for admins
    token = sign_up(web.base)
    job = run_demo_job(web.base, token, seconds=1, steps=2)
    assert job["status"] == "finished", job
    assert scalar(postgres_url, "SELECT COUNT(*) FROM alembic_version") == 1
    # Any command runs in the image with the service's secrets (`run --rm` in docs/deploy.md;
    # docker-compose 1.29 refuses `run` on the host network, so exec here).
    result = stack("exec", "-T", "web", "flask", "seed")
    assert "Default roles present" in result.stdout


def test_mysql_profile_boots_and_migrates_on_mariadb(stack: Stack, mysql_url: str) -> None:
    stack("--profile", "mysql", "up", "-d", "--no-deps", "--no-build", "web-mysql")
    web = stack.container("web-mysql")
    wait_ready(web)
    assert web.logs().count("Running upgrade") == migration_heads()
    assert scalar(mysql_url, "SELECT COUNT(*) FROM alembic_version") == 1
    status, body = http("GET", web.base + "/api/v1/posts")
    assert status == 200, body
