"""Translations: Flask-Babel picks the locale from ``Accept-Language`` (``flask translate``
manages the catalogues: :mod:`flaskyard.cli.translations`)."""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

from flask import Flask, has_request_context, request
from flask_babel import Babel

from flaskyard.settings import get_settings

TRANSLATIONS_DIR = Path(__file__).with_name("translations")
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


def init_app(app: Flask) -> None:
    """Bind Flask-Babel.

    Catalogues are read from the package, then from the instance folder, where boot compiles
    them when the package cannot be written (a later directory's messages win).
    """
    directories = (TRANSLATIONS_DIR, compiled_dir(get_settings(app).instance_dir))
    babel.init_app(
        app,
        locale_selector=select_locale,
        default_translation_directories=";".join(str(path) for path in directories),
    )
