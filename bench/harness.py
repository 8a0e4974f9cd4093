"""The command-line flow both benchmark harnesses share: configure, measure, report, save."""

from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parent.parent
C = TypeVar("C")


class HarnessError(Exception):
    """The benchmark could not be run; the message says why."""


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def run_harness(
    name: str,
    *,
    configure: Callable[[], C],
    measure: Callable[[C, Path], dict[str, Any]],
    report: Callable[[Mapping[str, Any]], None],
    verdict: Callable[[Mapping[str, Any]], list[str]],
    results_file: Path,
) -> int:
    """Configure, measure in a scratch folder, report, save the results; the exit status.

    0 when the measurements were taken (goal met or not), 1 on a harness error (the scratch
    folder with the logs is kept), 130 on Ctrl-C. ``verdict`` gives the closing lines, printed
    after the results path and the load average.
    """
    signal.signal(signal.SIGTERM, _terminate)
    try:
        config = configure()
    except HarnessError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return 1
    workdir = Path(tempfile.mkdtemp(prefix=f"flaskyard-{name}-"))
    try:
        document = measure(config, workdir)
    except HarnessError as exc:
        print(f"{name}: error: {exc}\n{name}: logs kept in {workdir}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{name}: interrupted; logs kept in {workdir}", file=sys.stderr)
        return 130
    except SystemExit:
        print(f"{name}: terminated; logs kept in {workdir}", file=sys.stderr)
        raise

    report(document)
    results_file.parent.mkdir(parents=True, exist_ok=True)
    results_file.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    shutil.rmtree(workdir, ignore_errors=True)
    print(f"\nresults: {results_file.relative_to(ROOT)}")
    load = document["load_average"]
    if load["start"] and load["end"]:
        print(
            f"load average (1 min) {load['start'][0]:.2f} at start, {load['end'][0]:.2f} at end, "
            f"{os.cpu_count()} CPUs"
        )
    for line in verdict(document):
        print(line)
    return 0
