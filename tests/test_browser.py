"""Pages as a person sees them: headless Chromium loads them from a live server."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from apiflask import APIFlask
from werkzeug.serving import make_server

from flaskyard.extensions import db
from flaskyard.web.routes import DEFAULT_FRONTEND_DIR
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.factories import make_post, make_user

CHROMIUM_FLAGS = ["--headless", *CHROMIUM_ARGS, "--virtual-time-budget=8000"]

pytestmark = [
    pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt: chromium)"),
    # What a browser sees does not depend on the database.
    pytest.mark.parametrize("backend", ["sqlite"], indirect=True),
]


@pytest.fixture
def live_server(app: APIFlask) -> Iterator[str]:
    """The app served on a free loopback port in a thread."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


def rendered_dom(url: str, tmp_path: Path) -> str:
    """The page's DOM after its scripts ran."""
    assert CHROMIUM is not None
    result = subprocess.run(
        [CHROMIUM, *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", url],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def test_api_docs_render_the_spec(live_server: str, tmp_path: Path) -> None:
    dom = rendered_dom(f"{live_server}/api/docs", tmp_path)
    assert "Unable to render this definition" not in dom
    assert "Flaskyard API" in dom
    assert "/api/v1/posts" in dom  # an operation rendered from the spec


def test_home_page_shows_the_feed(app: APIFlask, live_server: str, tmp_path: Path) -> None:
    if not (DEFAULT_FRONTEND_DIR / "index.html").is_file():
        pytest.skip("The front end is not built (make frontend).")
    with app.app_context():
        author = make_user(db.session, "feedwriter")
        make_post(db.session, author, title="Fresh from the feed", body="Read by the SPA.")
        db.session.commit()
    dom = rendered_dom(f"{live_server}/", tmp_path)
    assert '<h1 id="page-title"' in dom
    assert ">Posts</h1>" in dom
    # The title only gets into the page through GET /api/v1/posts.
    assert "Fresh from the feed" in dom
    assert "feedwriter" in dom
