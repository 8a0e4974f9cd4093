"""PNG plots of the benchmark results, for BENCHMARKS.md and the README (``docs/img/``).

``bench/run.py`` calls :func:`write_plots` after each run; run this file alone to redraw them
from ``bench/results/latest.json`` (and ``jobs-latest.json``, when ``make bench-jobs`` left one).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only, no display

import matplotlib.pyplot as plt  # noqa: E402 - the backend is chosen first

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
IMG_DIR = ROOT / "docs" / "img"
HTTP_PLOT = IMG_DIR / "bench-http.png"
SERVERS_PLOT = IMG_DIR / "bench-servers.png"
JOBS_PLOT = IMG_DIR / "bench-jobs.png"
RESULTS = BENCH_DIR / "results" / "latest.json"
JOBS_RESULTS = BENCH_DIR / "results" / "jobs-latest.json"
_GUNICORN, _GRANIAN, _PLAIN = "#4c72b0", "#dd8452", "#8c8c8c"


def _rows(document: Mapping[str, Any]) -> list[str]:
    """Endpoint names in the order the harness measured them."""
    return list(document["settings"]["order"])


def _bars(ax: Any, labels: list[str], series: list[tuple[str, str, list[float]]], fmt: str) -> None:
    """Horizontal grouped bars, one group per label, values written at the bar ends."""
    height = 0.8 / len(series)
    for index, (name, colour, values) in enumerate(series):
        positions = [row + (index - (len(series) - 1) / 2) * height for row in range(len(labels))]
        bars = ax.barh(positions, values, height=height, label=name, color=colour)
        ax.bar_label(bars, labels=[fmt.format(v) for v in values], padding=3, fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=9)
    ax.invert_yaxis()
    ax.margins(x=0.15)  # room for the value labels
    ax.legend(loc="best", fontsize=9)
    ax.grid(axis="x", alpha=0.3)


def plot_http(document: Mapping[str, Any], path: Path = HTTP_PLOT) -> Path:
    """Each endpoint's req/s as a share of the bare-Flask baseline, under each server."""
    names = _rows(document)
    labels = [document["endpoints"][name]["label"] for name in names]
    series = [
        ("gunicorn", _GUNICORN, [document["ratios"][n]["median"] for n in names]),
    ]
    granian = document.get("granian")
    if granian:
        series.append(("granian", _GRANIAN, [granian["ratios"][n]["median"] for n in names]))
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(names) + 1.6))
    _bars(ax, labels, series, "{:.2f}")
    ax.axvline(1.0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel("req/s as a share of bare Flask under the same server, same round")
    ax.set_title(_title("Flaskyard vs a bare Flask app", document), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_servers(document: Mapping[str, Any], path: Path = SERVERS_PLOT) -> Path | None:
    """req/s of every row under gunicorn and under granian (None without granian figures)."""
    granian = document.get("granian")
    if not granian:
        return None
    names = _rows(document)
    labels = [document["endpoints"][name]["label"] for name in names]
    series = [
        ("gunicorn", _GUNICORN, [document["endpoints"][n]["rps"] for n in names]),
        ("granian", _GRANIAN, [granian["endpoints"][n]["rps"] for n in names]),
    ]
    fig, ax = plt.subplots(figsize=(9, 0.6 * len(names) + 1.6))
    _bars(ax, labels, series, "{:,.0f}")
    ax.set_xscale("log")
    ax.set_xlabel("req/s (log scale), median of the rounds")
    ax.set_title(_title("gunicorn (gthread) vs granian, same processes and threads", document))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_jobs(jobs: Mapping[str, Any], path: Path = JOBS_PLOT) -> Path | None:
    """Jobs/s of plain RQ and of Flaskyard's worker per workload (None if nothing to plot)."""
    workloads = jobs.get("workloads") or {}
    labels: list[str] = []
    plain: list[float] = []
    ours: list[float] = []
    for name, result in workloads.items():
        workers = result.get("sides", {})
        if "plain" in workers and "flaskyard" in workers:
            labels.append(f"{result.get('jobs', '')} {name} jobs".strip())
            plain.append(workers["plain"]["jobs_per_s"])
            ours.append(workers["flaskyard"]["jobs_per_s"])
    if not labels:
        return None
    fig, ax = plt.subplots(figsize=(9, 0.9 * len(labels) + 1.6))
    _bars(
        ax,
        labels,
        [("plain rq.Worker (fork per job)", _PLAIN, plain), ("Flaskyard worker", _GUNICORN, ours)],
        "{:,.0f}",
    )
    ax.set_xlabel("jobs/s, worker start-up included")
    ax.set_title(_title("Flaskyard's worker vs plain RQ", jobs), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _title(what: str, document: Mapping[str, Any]) -> str:
    load = (document.get("load_average") or {}).get("start")
    when = str(document.get("finished_at", ""))[:10]
    cpus = (document.get("machine") or {}).get("cpus")
    facts = ", ".join(
        part
        for part in (
            when,
            f"{cpus} CPUs" if cpus else "",
            f"load {load[0]:.1f} at start" if load else "",
        )
        if part
    )
    return f"{what}\n({facts})" if facts else what


def write_plots(document: Mapping[str, Any], jobs: Mapping[str, Any] | None = None) -> list[Path]:
    """Every plot the results allow; returns the files written."""
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    written = [plot_http(document)]
    for path in (plot_servers(document), plot_jobs(jobs) if jobs else None):
        if path is not None:
            written.append(path)
    return written


def load_jobs() -> dict[str, Any] | None:
    """``make bench-jobs``'s last results, if there are any."""
    try:
        jobs: dict[str, Any] = json.loads(JOBS_RESULTS.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return jobs


def main() -> int:
    try:
        document = json.loads(RESULTS.read_text(encoding="utf-8"))
    except OSError:
        print(f"plots: no results at {RESULTS}; run make bench first.", file=sys.stderr)
        return 1
    for path in write_plots(document, load_jobs()):
        print(f"plots: wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
