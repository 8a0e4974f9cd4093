"""First render of the web app in headless Chromium, against a static page from the same server.

Steps: migrate a SQLite database in a scratch folder and seed 100 posts (``bench/seed.py``),
copy the built SPA next to a minimal static page (``baseline.html``: a doctype, a title and an
``<h1>Posts</h1>``), start one production-mode gunicorn (1 worker, 4 threads) that serves both,
then load each page ``BENCH_FRONTEND_RUNS`` times, alternating, every load in a fresh browser
context (empty cache, no cookies: a first visit). A script installed before the page's own
records ``performance.now()`` (milliseconds since navigation start) at the first frame after an
``<h1>`` reading "Posts" is laid out: for ``/`` that is the feed's heading, drawn by the SPA
after its JS and CSS loaded; for the baseline it is the parser's work alone.

Prints the median, min and max of both, their ratio, and PASS/MISSED against the budget: the
median first render of ``/`` at most ``BENCH_FRONTEND_BUDGET_MS`` (500). Writes
``bench/results/frontend.json``.

Exit status: 1 on a harness error (no Chromium, no build, a server not starting), 130 on
Ctrl-C, else 0: a time on a shared machine is reported, not enforced, unless
``BENCH_FRONTEND_STRICT=1`` asks for exit 1 when the budget is missed.

Settings (environment): BENCH_FRONTEND_RUNS (15), BENCH_FRONTEND_BUDGET_MS (500),
BENCH_FRONTEND_STRICT (unset), BENCH_CHROMIUM (/usr/bin/chromium, else ``chromium`` on PATH).
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import platform
import secrets
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Mapping
from contextlib import suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness import HarnessError, run_harness
from run import free_port, run_step, stop_process, tail

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
RESULTS_FILE = BENCH_DIR / "results" / "frontend.json"
DIST = ROOT / "flaskyard" / "web" / "dist"
LOOPBACK = "127.0.0.1"
HEADING = "Posts"
BASELINE_PAGE = "baseline.html"
BASELINE_HTML = (
    '<!doctype html>\n<html lang="en">\n<meta charset="utf-8">\n'
    f"<title>Baseline</title>\n<h1>{HEADING}</h1>\n"
)
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
#: Runs before any script of the page: resolves ``window.__firstRender`` with the time of the
#: first animation frame after an <h1> reading HEADING has a layout box.
FIRST_RENDER_PROBE = """
window.__firstRender = new Promise((resolve) => {
  const found = () => Array.from(document.querySelectorAll('h1')).some(
    (h) => h.textContent.trim() === HEADING && h.getBoundingClientRect().height > 0);
  const done = () => requestAnimationFrame(() => resolve(performance.now()));
  const observer = new MutationObserver(() => {
    if (found()) { observer.disconnect(); done(); }
  });
  observer.observe(document, { childList: true, subtree: true, characterData: true });
});
""".replace("HEADING", json.dumps(HEADING))
READY_TIMEOUT_S = 30.0
PAGE_TIMEOUT_MS = 15_000


def _positive_int(name: str, default: int) -> int:
    raw = os.environ.get(name, str(default)).strip()
    if not raw.isdigit() or int(raw) <= 0:
        raise HarnessError(f"{name} must be a positive integer, not {raw!r}.")
    return int(raw)


def configure() -> dict[str, Any]:
    """Check Chromium, Playwright and the build; read the settings."""
    chromium = os.environ.get("BENCH_CHROMIUM") or (
        "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else shutil.which("chromium")
    )
    if not chromium or not Path(chromium).exists():
        raise HarnessError("Chromium is not installed (Debian: apt-get install -y chromium).")
    try:
        import playwright  # noqa: F401 - only checking that the dev dependencies are installed
    except ImportError as exc:
        raise HarnessError("Playwright is missing: run make .venv/.installed-dev.") from exc
    if not (DIST / "index.html").is_file():
        raise HarnessError("The front end is not built: run make frontend.")
    return {
        "chromium": chromium,
        "runs": _positive_int("BENCH_FRONTEND_RUNS", 15),
        "budget_ms": _positive_int("BENCH_FRONTEND_BUDGET_MS", 500),
    }


def _gzip_sizes() -> dict[str, int]:
    return {
        path.name: len(gzip.compress(path.read_bytes(), compresslevel=9))
        for path in sorted((DIST / "assets").iterdir())
        if path.suffix in {".js", ".css"}
    }


def _start_server(env: Mapping[str, str], workdir: Path, port: int) -> subprocess.Popen[bytes]:
    log = (workdir / "gunicorn.log").open("wb")
    argv = [
        sys.executable, "-m", "gunicorn",
        "--workers", "1", "--worker-class", "gthread", "--threads", "4",
        "--log-level", "warning", "--bind", f"{LOOPBACK}:{port}",
        "flaskyard:create_app()",
    ]  # fmt: skip
    # cwd is the scratch folder, so the repository's gunicorn.conf.py is not read.
    return subprocess.Popen(
        argv, env=dict(env), cwd=workdir, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip


def _wait_ready(process: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise HarnessError(f"gunicorn exited {process.returncode}:\n{tail(log)}")
        with suppress(OSError):
            connection = http.client.HTTPConnection(LOOPBACK, port, timeout=2)
            try:
                connection.request("GET", "/healthz")
                if connection.getresponse().status == 200:
                    return
            finally:
                connection.close()
        time.sleep(0.1)
    raise HarnessError(f"gunicorn did not answer within {READY_TIMEOUT_S:g} s:\n{tail(log)}")


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 1),
        "min": round(min(values), 1),
        "max": round(max(values), 1),
    }


def _load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def measure(config: Mapping[str, Any], workdir: Path) -> dict[str, Any]:
    """Prepare the database and the pages, then time both pages in alternation."""
    # Imported once the configure step has said, in one sentence, whether Playwright is there.
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    load_at_start = _load_average()
    frontend = workdir / "frontend"
    shutil.copytree(DIST, frontend)
    (frontend / BASELINE_PAGE).write_text(BASELINE_HTML, encoding="utf-8")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("GUNICORN_", "FLASK_", "WERKZEUG_"))
    }
    env.update(
        {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": f"sqlite:///{workdir / 'bench.db'}",
            "INSTANCE_DIR": str(workdir / "instance"),
            "FRONTEND_DIR": str(frontend),
            "TOKEN_BLOCKLIST": "database",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
    )
    env.pop("REDIS_URL", None)
    flask = [sys.executable, "-m", "flask", "--app", "flaskyard"]
    run_step("flask db upgrade", [*flask, "db", "upgrade"], env, workdir, workdir / "migrate.log")
    seed = [sys.executable, str(BENCH_DIR / "seed.py"), "--posts", "100", "--authors", "3"]
    run_step("seeding posts", seed, env, workdir, workdir / "seed.log")

    port = free_port()
    server = _start_server(env, workdir, port)
    times: dict[str, list[float]] = {"app": [], "baseline": []}
    pages = {"app": "/", "baseline": f"/{BASELINE_PAGE}"}
    try:
        _wait_ready(server, port, workdir / "gunicorn.log")
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=config["chromium"], args=CHROMIUM_ARGS)
            try:
                # One unmeasured load of each warms the server (imports, first queries).
                for run in range(config["runs"] + 1):
                    for name, path in pages.items():
                        context = browser.new_context(locale="en-US")
                        context.add_init_script(FIRST_RENDER_PROBE)
                        page = context.new_page()
                        page.set_default_timeout(PAGE_TIMEOUT_MS)
                        try:
                            page.goto(f"http://{LOOPBACK}:{port}{path}", wait_until="commit")
                            elapsed = float(page.evaluate("window.__firstRender"))
                        except PlaywrightError as exc:
                            raise HarnessError(f"Loading {path} failed: {exc}") from exc
                        finally:
                            context.close()
                        if run:
                            times[name].append(elapsed)
            finally:
                browser.close()
    finally:
        stop_process(server)

    app, baseline = _spread(times["app"]), _spread(times["baseline"])
    return {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpus": os.cpu_count()},
        "runs": config["runs"],
        "first_render_ms": {"app": app, "baseline": baseline},
        "samples_ms": {name: [round(v, 1) for v in values] for name, values in times.items()},
        "ratio": round(app["median"] / baseline["median"], 2) if baseline["median"] else None,
        "gzip_bytes": _gzip_sizes(),
        "load_average": {"start": load_at_start, "end": _load_average()},
        "budget": {
            "max_ms": config["budget_ms"],
            "median_ms": app["median"],
            "met": app["median"] <= config["budget_ms"],
        },
    }


def report(document: Mapping[str, Any]) -> None:
    """The figures as a small table."""
    rows = document["first_render_ms"]
    print(f"\nFirst render in headless Chromium, {document['runs']} cold loads each (ms):")
    print(f"  {'page':<32} {'median':>7} {'min':>7} {'max':>7}")
    labels = {
        "baseline": f"static {BASELINE_PAGE} (baseline)",
        "app": "/ (SPA: the feed heading)",
    }
    for name in ("baseline", "app"):
        row = rows[name]
        print(f"  {labels[name]:<32} {row['median']:>7} {row['min']:>7} {row['max']:>7}")
    print(f"  ratio / to baseline: {document['ratio']}")
    sizes = document["gzip_bytes"]
    print(
        "  JS+CSS gzip: "
        + ", ".join(f"{name} {size / 1024:.1f} KB" for name, size in sizes.items())
        + f"; total {sum(sizes.values()) / 1024:.1f} KB"
    )


def verdict(document: Mapping[str, Any]) -> list[str]:
    """PASS or MISSED against the first-render budget."""
    budget = document["budget"]
    word = "PASS" if budget["met"] else "MISSED"
    median, most = budget["median_ms"], budget["max_ms"]
    return [f"{word}: median first render of / {median} ms (budget {most} ms)"]


def main() -> int:
    status = run_harness(
        "bench-frontend",
        configure=configure,
        measure=measure,
        report=report,
        verdict=verdict,
        results_file=RESULTS_FILE,
    )
    if status != 0 or os.environ.get("BENCH_FRONTEND_STRICT") != "1":
        return status
    document = json.loads(RESULTS_FILE.read_text(encoding="utf-8"))
    return 0 if document["budget"]["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
