"""rq-dashboard in headless Chromium: its tables fill in under the dashboard's CSP."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis
from werkzeug.serving import make_server

from tests.support.browser import CHROMIUM
from tests.support.fixtures import Accounts, _isolated_redis, accounts, jobs_redis_url, redis
from tests.support.jobs import start_job
from tests.test_browser import rendered_dom

__all__ = ["_isolated_redis", "accounts", "jobs_redis_url", "redis"]
pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt: chromium)"),
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]


class _SignedIn:
    """Adds an admin's Authorization header to every request, as the browser cannot."""

    def __init__(self, app: APIFlask, header: str) -> None:
        self.app = app
        self.header = header

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        environ["HTTP_AUTHORIZATION"] = self.header
        return self.app(environ, start_response)


@pytest.fixture
def admin_server(app: APIFlask, accounts: Accounts) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, _SignedIn(app, accounts.admin["Authorization"]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def test_the_dashboard_tables_render(
    admin_server: str,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    tmp_path: Path,
) -> None:
    start_job(client, accounts.alice, seconds=0, steps=1)
    dom = rendered_dom(f"{admin_server}/admin/rq/0/view/queues", tmp_path)
    assert "Loading..." not in dom
    assert 'data-role="queue"' in dom  # a row made by underscore's template
    assert "<td>default</td>" in dom
