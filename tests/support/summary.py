"""Counts a test wants shown after the run (the root conftest prints them, one section each)."""

from __future__ import annotations

SECTIONS: dict[str, list[str]] = {}


def report(section: str, line: str) -> None:
    """Show ``line`` under ``section`` in the terminal summary."""
    SECTIONS.setdefault(section, []).append(line)
