"""Fixtures of the browser tests: one headless Chromium, and a live stack per test module.

Without Chromium, or without the built front end or axe-core, these tests are skipped with the
reason; in CI (``REQUIRE_BACKENDS`` names ``chromium``) a missing build or axe-core fails them
instead, since ``.ci/run`` builds both before the tests.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, sync_playwright

from tests.support import backends
from tests.support.browser import (
    AXE_SCRIPT,
    CHROMIUM,
    CHROMIUM_ARGS,
    FRONTEND_INDEX,
    IMPACTS,
    RESULTS,
)
from tests.support.servers import ROOT
from tests.support.stack import LiveStack, live_stack


def _unavailable(reason: str) -> None:
    if "chromium" in backends.required():
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless system Chromium (never a downloaded one)."""
    if CHROMIUM is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    if not FRONTEND_INDEX.is_file():
        _unavailable("The front end is not built (make frontend).")
    if not AXE_SCRIPT.is_file():
        _unavailable("axe-core is not installed (cd frontend && npm ci).")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def stack(
    browser: Browser, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[LiveStack]:
    """The web server and a worker in development mode, shared by the tests of one module.

    Not longer: the worker listens on the queues of the shared test Redis, so it must be gone
    before the tests of other modules enqueue jobs there.
    """
    directory = tmp_path_factory.mktemp("stack")
    with live_stack(directory, redis_url, {"REQUIRE_VERIFIED_EMAIL": "true"}) as running:
        yield running


@pytest.fixture
def new_context(browser: Browser, stack: LiveStack) -> Iterator[Any]:
    """Make browser contexts (separate cookie jars: separate people); all closed afterwards."""
    contexts: list[BrowserContext] = []

    def make(**options: Any) -> BrowserContext:
        settings: dict[str, Any] = {
            "base_url": stack.url,
            "viewport": {"width": 1280, "height": 800},
            "locale": "en-US",
            "color_scheme": "light",
            "accept_downloads": True,
        }
        settings.update(options)
        context = browser.new_context(**settings)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def screenshot_dir(tmp_path: Path) -> Path:
    """Where screenshots go: ``SCREENSHOT_DIR`` (``make screenshots``: docs/img), else tmp."""
    chosen = os.environ.get("SCREENSHOT_DIR")
    if not chosen:
        return tmp_path
    directory = ROOT / chosen  # an absolute SCREENSHOT_DIR stays as it is
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    terminalreporter.section("axe-core (violating nodes by impact)")
    for result in RESULTS:
        terminalreporter.write_line(result.line())
    total: Counter[str] = Counter()
    for result in RESULTS:
        total.update(result.counts)
    terminalreporter.write_line(
        f"{len(RESULTS)} checks, in total: "
        + ", ".join(f"{impact} {total.get(impact, 0)}" for impact in IMPACTS)
    )
