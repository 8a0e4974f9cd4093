"""Translations: catalogue compile command, locale selection, completeness."""

from __future__ import annotations

from babel.messages.pofile import read_po
from flask.testing import FlaskClient, FlaskCliRunner

from flaskyard.i18n import TRANSLATIONS_DIR, available_locales


def test_compile_command_builds_catalogues(runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["translate", "compile"])
    assert result.exit_code == 0, result.output
    assert "de" in result.output
    assert (TRANSLATIONS_DIR / "de" / "LC_MESSAGES" / "messages.mo").is_file()


def test_available_locales_lists_english_first() -> None:
    locales = available_locales()
    assert locales[0] == "en"
    assert "de" in locales


def test_german_catalogue_is_complete() -> None:
    with (TRANSLATIONS_DIR / "de" / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        catalogue = read_po(handle)
    missing = [message.id for message in catalogue if message.id and not message.string]
    assert missing == []


def test_accept_language_picks_the_locale(runner: FlaskCliRunner, client: FlaskClient) -> None:
    assert runner.invoke(args=["translate", "compile"]).exit_code == 0
    body = {"username": "nobody", "password": "wrong password"}
    german = client.post(
        "/api/v1/auth/login", json=body, headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
    )
    english = client.post("/api/v1/auth/login", json=body, headers={"Accept-Language": "fr"})
    assert german.status_code == english.status_code == 401
    assert "Passwort" in german.get_json()["detail"]
    assert "password is wrong" in english.get_json()["detail"]
