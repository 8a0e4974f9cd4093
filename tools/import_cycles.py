"""Find import cycles in the flaskyard package, counting every import statement.

import-linter checks layers; this also counts imports inside functions and under
``TYPE_CHECKING``, and reports cycles between modules and between top-level packages
(``flaskyard.jobs``, ``flaskyard.core``, …). Exit status 1 when there is any.

Usage: ``python tools/import_cycles.py [--graph]``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "flaskyard"
SKIP = ("flaskyard.migrations",)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted((ROOT / PACKAGE).rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        name = ".".join(parts)
        if not name.startswith(SKIP):
            found[name] = path
    return found


def _imported(module: str, path: Path, known: set[str]) -> Iterator[str]:
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            # ``from a import b``: the submodule a.b when there is one, else a itself.
            names = [f"{base}.{alias.name}" for alias in node.names]
        for name in names:
            # The longest known module the name starts with: ``a.b.c`` may be a.b's attribute c.
            while name and name not in known:
                name = name.rpartition(".")[0]
            if name and name != module:
                yield name


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def _top(module: str) -> str:
    return ".".join(module.split(".")[:2])


def main(argv: list[str]) -> int:
    """Print the cycles (and with ``--graph`` every edge); 1 when there is a cycle."""
    modules = _modules()
    known = set(modules)
    edges: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        # Python also runs every parent package's __init__ on the way to a submodule; like
        # grimp, only the imports written down count.
        edges[name].update(_imported(name, path, known))
    packages: dict[str, set[str]] = {}
    for name, targets in edges.items():
        for target in targets:
            if _top(name) != _top(target) and _top(target) != PACKAGE:
                packages.setdefault(_top(name), set()).add(_top(target))
    if "--graph" in argv:
        for name in sorted(packages):
            print(f"{name} -> {', '.join(sorted(packages[name]))}")
    module_cycles, package_cycles = _cycles(edges), _cycles(packages)
    for kind, cycles in (("module", module_cycles), ("package", package_cycles)):
        for cycle in cycles:
            print(f"{kind} cycle: {' <-> '.join(cycle)}")
    edge_count = sum(len(targets) for targets in edges.values())
    print(
        f"{len(modules)} modules, {edge_count} imports (function-local and TYPE_CHECKING "
        f"included): {len(module_cycles)} module cycles, {len(package_cycles)} package cycles."
    )
    return 1 if module_cycles or package_cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
