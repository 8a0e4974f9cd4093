"""Translations: Flask-Babel picks the locale from ``Accept-Language``; ``flask translate``."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

import click
from flask import Flask, has_request_context, request
from flask_babel import Babel

from flaskyard.settings import get_settings

TRANSLATIONS_DIR = Path(__file__).with_name("translations")
BABEL_CONFIG = Path(__file__).with_name("babel.cfg")
POT_FILE = TRANSLATIONS_DIR / "messages.pot"
DEFAULT_LOCALE = "en"

babel = Babel()
log = logging.getLogger("flaskyard.i18n")


def compiled_dir(instance_dir: Path) -> Path:
    """Where catalogues are compiled when the package's own folder is read-only."""
    return instance_dir / "translations"


def _fresh(mo: Path, po: Path) -> bool:
    try:
        return mo.stat().st_mtime >= po.stat().st_mtime
    except FileNotFoundError:
        return False


def _write_mo(po: Path, target: Path) -> None:
    # Babel's own reader and writer: what `pybabel compile` does, fuzzy entries left out.
    from babel.messages.mofile import write_mo  # import cost: only when something is stale
    from babel.messages.pofile import read_po

    language = po.parent.parent.name
    with po.open("rb") as source:
        catalog = read_po(source, locale=language)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}")
    with partial.open("wb") as out:
        write_mo(out, catalog)
    partial.replace(target)


def compile_stale(instance_dir: Path) -> list[Path]:
    """Compile every catalogue whose .mo is missing or older than its .po; the files written.

    Each goes next to its .po when that folder can be written, else under
    ``compiled_dir(instance_dir)``, which the app also reads (a read-only checkout or image).
    """
    written = []
    for po in sorted(TRANSLATIONS_DIR.glob("*/LC_MESSAGES/*.po")):
        packaged = po.with_suffix(".mo")
        spare = compiled_dir(instance_dir) / po.relative_to(TRANSLATIONS_DIR).with_suffix(".mo")
        if _fresh(packaged, po):
            # A copy compiled earlier would override the packaged one; it is out of date now.
            with contextlib.suppress(OSError):
                spare.unlink(missing_ok=True)
            continue
        try:
            _write_mo(po, packaged)
            written.append(packaged)
            continue
        except OSError as exc:
            log.info("%s is not writable (%s); compiling into %s", po.parent, exc.strerror, spare)
        if not _fresh(spare, po):
            _write_mo(po, spare)
            written.append(spare)
    return written


def available_locales() -> list[str]:
    """English plus every language with a catalogue under ``translations/``."""
    found = sorted(p.parent.parent.name for p in TRANSLATIONS_DIR.glob("*/LC_MESSAGES/messages.po"))
    return [DEFAULT_LOCALE, *found]


def select_locale() -> str:
    """The best match for the request's ``Accept-Language``; English outside requests."""
    if not has_request_context():
        return DEFAULT_LOCALE
    return request.accept_languages.best_match(available_locales()) or DEFAULT_LOCALE


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


def init_app(app: Flask) -> None:
    """Bind Flask-Babel and register ``flask translate``.

    Catalogues are read from the package, then from the instance folder, where boot compiles
    them when the package cannot be written (a later directory's messages win).
    """
    directories = (TRANSLATIONS_DIR, compiled_dir(get_settings(app).instance_dir))
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=";".join(str(path) for path in directories),
    )
    app.cli.add_command(translate)
