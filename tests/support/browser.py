"""Headless Chromium through Playwright, and axe-core accessibility checks on the pages it shows."""

from __future__ import annotations

import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from playwright.sync_api import Page

from tests.support.servers import ROOT

#: The system Chromium (Debian's package); Playwright never downloads a browser here.
CHROMIUM = "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_SCRIPT = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
FRONTEND_INDEX = ROOT / "flaskyard" / "web" / "dist" / "index.html"
#: Impacts that fail a test; "minor" and "moderate" are counted and printed only.
BLOCKING = ("serious", "critical")
IMPACTS = ("minor", "moderate", "serious", "critical")
Scheme = Literal["light", "dark"]


@dataclass
class AxeResult:
    """The violations axe found on one page in one colour scheme."""

    page: str
    scheme: Scheme
    counts: Counter[str]
    blocking: list[str] = field(default_factory=list)

    def line(self) -> str:
        counts = ", ".join(f"{impact} {self.counts.get(impact, 0)}" for impact in IMPACTS)
        return f"{self.page:<28} {self.scheme:<5} {counts}"


#: Every check of this test session, printed in the terminal summary.
RESULTS: list[AxeResult] = []


def _load_axe(page: Page) -> None:
    # Evaluated through the DevTools protocol, which the page's strict CSP does not govern
    # (a <script> tag would be refused, as it should be).
    if not page.evaluate("() => typeof window.axe === 'object'"):
        page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8") + "\n;undefined")


def _run(page: Page, name: str, scheme: Scheme) -> AxeResult:
    page.emulate_media(color_scheme=scheme)
    # The app follows prefers-color-scheme through a listener; let it repaint first.
    page.wait_for_function("s => document.documentElement.dataset.theme === s", arg=scheme)
    _load_axe(page)
    violations: list[dict[str, Any]] = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
    )
    counts: Counter[str] = Counter()
    blocking: list[str] = []
    for violation in violations:
        impact = violation.get("impact") or "minor"
        counts[impact] += len(violation["nodes"])
        if impact in BLOCKING:
            nodes = violation["nodes"]
            targets = [" ".join(map(str, node["target"])) for node in nodes[:5]]
            why = (nodes[0].get("failureSummary") or "").replace("\n", " ")
            blocking.append(f"{impact} {violation['id']}: {violation['help']} at {targets}; {why}")
    result = AxeResult(name, scheme, counts, blocking)
    RESULTS.append(result)
    print(f"axe {result.line()}")
    return result


def check_accessibility(page: Page, name: str) -> None:
    """Run axe on the page as it is now, light and dark; fail on serious or critical findings.

    The page's own colour scheme is restored afterwards (light unless the test chose dark).
    """
    problems: list[str] = []
    for scheme in ("dark", "light"):
        problems += [f"[{scheme}] {line}" for line in _run(page, name, scheme).blocking]
    assert not problems, f"axe found problems on {name}:\n" + "\n".join(problems)
