"""Check that the README's Layout section names every module, package and top-level folder.

Every module of the flaskyard package (by file name, or by its name alone, as in the jobs
line: ``routes → events → …``), every package folder (``name/``) and
every tracked top-level folder must appear in the fenced block under ``## Layout``; every
``name.py`` the block names must exist in the package, in ``tools/`` or at the top level. So
a module added, renamed or removed fails ``make lint`` until the section says so.

Usage: ``python tools/readme_layout.py``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "flaskyard"
SKIP = (PACKAGE / "migrations",)  # generated; the folder itself is named


def _layout_block() -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    section = text.split("\n## Layout\n", 1)[1].split("\n## ", 1)[0]
    match = re.search(r"^```\n(.*?)^```", section, re.S | re.M)
    if match is None:
        raise SystemExit("README.md: no fenced block in the Layout section")
    return match.group(1)


def _tracked_top_folders() -> set[str]:
    listed = subprocess.run(
        ["git", "ls-files"],  # noqa: S607 - git from PATH, as make itself runs it
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,  # noqa: S607
    ).stdout.splitlines()
    return {name.split("/", 1)[0] for name in listed if "/" in name and not name.startswith(".")}


def main() -> int:
    """Print what the section misses or names in vain; 1 when there is anything."""
    block = _layout_block()
    words = set(re.findall(r"[\w.]+/?", block))
    modules = [
        path
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "__init__.py" and not any(path.is_relative_to(s) for s in SKIP)
    ]
    folders = [
        path
        for path in sorted(PACKAGE.rglob("*/"))
        if (path / "__init__.py").exists() or path.name in ("migrations", "translations")
    ]
    problems = [
        f"{path.relative_to(ROOT)} is not named"
        for path in modules
        if path.name not in words and path.stem not in words
    ]
    problems += [
        f"{path.relative_to(ROOT)}/ is not named"
        for path in folders
        if f"{path.name}/" not in words
    ]
    problems += [
        f"{name}/ is not named"
        for name in sorted(_tracked_top_folders())
        if f"{name}/" not in words
    ]
    existing = {path.name for path in PACKAGE.rglob("*.py")}
    existing |= {path.name for path in (ROOT / "tools").glob("*.py")}
    existing |= {path.name for path in ROOT.glob("*.py")}
    problems += [
        f"{name} is named but does not exist"
        for name in sorted(words)
        if name.endswith(".py") and name not in existing
    ]
    for problem in problems:
        print(f"README.md Layout: {problem}")
    counted = f"{len(modules)} modules, {len(folders)} package folders"
    print(f"README.md Layout: {counted}: {len(problems)} problems.")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
