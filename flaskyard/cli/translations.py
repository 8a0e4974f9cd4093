"""``flask translate``: extract, initialise, update and compile the message catalogues.

Babel's own command line, called in-process (the same code as the ``pybabel`` tool), on the
catalogues in ``flaskyard/translations``.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from flaskyard.i18n import TRANSLATIONS_DIR, available_locales

BABEL_CONFIG = Path(__file__).parent.parent / "babel.cfg"
POT_FILE = TRANSLATIONS_DIR / "messages.pot"


def _pybabel(*args: str) -> None:
    # Babel's own command line, called in-process: the same code as the `pybabel` tool.
    from babel.messages.frontend import CommandLineInterface  # import cost: tooling only

    CommandLineInterface().run(["pybabel", "-q", *args])  # type: ignore[no-untyped-call]


@click.group("translate")
def translate() -> None:
    """Extract, initialise, update and compile message catalogues."""


@translate.command("extract")
def extract() -> None:
    """Collect marked strings into translations/messages.pot."""
    # Relative paths keep the catalogue's source references the same on every machine.
    with contextlib.chdir(BABEL_CONFIG.parent.parent):
        _pybabel(
            "extract",
            "-F",
            str(BABEL_CONFIG),
            "-k",
            "_l",
            # core.problems.Message: a sentence with values, translated by its template.
            "-k",
            "Message:1",
            "--project=Flaskyard",
            "-o",
            str(POT_FILE),
            BABEL_CONFIG.parent.name,
        )


@translate.command("init")
@click.argument("language")
def init(language: str) -> None:
    """Start a catalogue for LANGUAGE (for example ``de``)."""
    extract.callback()  # type: ignore[misc]
    _pybabel("init", "-i", str(POT_FILE), "-d", str(TRANSLATIONS_DIR), "-l", language)


@translate.command("update")
def update() -> None:
    """Merge new strings into every catalogue."""
    extract.callback()  # type: ignore[misc]
    _pybabel("update", "-i", str(POT_FILE), "-d", str(TRANSLATIONS_DIR))


@translate.command("compile")
def compile_catalogs() -> None:
    """Compile every catalogue to the .mo files the app reads."""
    if len(available_locales()) == 1:
        click.echo("No catalogues to compile.")
        return
    _pybabel("compile", "-d", str(TRANSLATIONS_DIR))
    click.echo(f"Compiled catalogues: {', '.join(available_locales()[1:])}.")
