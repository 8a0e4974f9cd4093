"""Fail when a module of the flaskyard package is longer than the limit (350 lines).

A module past the limit is doing more than one thing: split it by concern, as ``boot/`` and
``jobs/`` are. Migrations are generated and left out.

Usage: ``python tools/module_sizes.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "flaskyard"
SKIP = (PACKAGE / "migrations",)
LIMIT = 350


def main() -> int:
    """Print every module over the limit and a summary; 1 when there is one."""
    sizes = {
        path.relative_to(ROOT): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(PACKAGE.rglob("*.py"))
        if not any(path.is_relative_to(skip) for skip in SKIP)
    }
    too_long = {path: lines for path, lines in sizes.items() if lines > LIMIT}
    for path, lines in too_long.items():
        print(f"{path}: {lines} lines, over the {LIMIT}-line limit")
    largest = max(sizes, key=lambda path: sizes[path])
    print(
        f"{len(sizes)} modules, the longest {largest} ({sizes[largest]} lines): "
        f"{len(too_long)} over {LIMIT} lines."
    )
    return 1 if too_long else 0


if __name__ == "__main__":
    sys.exit(main())
