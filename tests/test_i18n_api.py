"""The API speaks the request's language (English or German): problems, field errors, mails."""

from __future__ import annotations

import ast
import uuid
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient, FlaskCliRunner
from redis import Redis

from flaskyard import messages
from tests.support.api import JOBS, PASSWORD, REGISTER, UPLOADS, auth_headers, problem
from tests.support.apps import built_app
from tests.support.devmail import delivered
from tests.support.fixtures import Accounts, _isolated_redis, accounts, jobs_redis_url, redis

__all__ = ["_isolated_redis", "accounts", "jobs_redis_url", "redis"]
GERMAN = {"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"}
ENGLISH = {"Accept-Language": "en"}
PACKAGE = Path(messages.__file__).parent


@pytest.fixture(autouse=True)
def _mailbox(app_config: dict[str, Any]) -> None:
    app_config["DEV_MAILBOX"] = True


@pytest.fixture(autouse=True)
def _compiled(_mailbox: None, _isolated_redis: None, runner: FlaskCliRunner) -> None:
    # After the fixtures that change app_config: the runner builds the app.
    result = runner.invoke(args=["translate", "compile"])
    assert result.exit_code == 0, result.output


def _fields(body: dict[str, Any]) -> dict[str, str]:
    return {error["field"]: error["message"] for error in body["errors"]}


def test_validation_problems_in_german_and_english(client: FlaskClient, redis: Redis) -> None:
    bad = {"username": "-x", "email": "nope", "password": "short"}
    german = problem(client.post(REGISTER, json=bad, headers=GERMAN), 422)
    assert german["title"] == "Validierungsfehler"
    assert german["detail"] == "Die Anfrage enthält ungültige Felder."
    assert _fields(german) == {
        "username": "Der Benutzername muss 3–32 Zeichen aus A–Z, a–z, 0–9, '_', '.', '-' haben "
        "und mit einem Buchstaben oder einer Ziffer beginnen.",
        "email": "Keine gültige E-Mail-Adresse.",
        "password": "Das Passwort muss 8 bis 128 Zeichen lang sein.",
    }
    missing = problem(client.post(REGISTER, json={}, headers=GERMAN), 422)
    assert set(_fields(missing).values()) == {"Dieses Feld ist erforderlich."}

    english = problem(client.post(REGISTER, json=bad, headers=ENGLISH), 422)
    assert english["title"] == "Validation error"
    assert english["detail"] == "The request has invalid fields."
    assert _fields(english)["password"] == "Password must be 8 to 128 characters."
    assert _fields(english)["email"] == "Not a valid email address."
    # No preference, or one we lack, is English.
    assert problem(client.post(REGISTER, json=bad), 422)["title"] == "Validation error"
    fr = problem(client.post(REGISTER, json=bad, headers={"Accept-Language": "fr"}), 422)
    assert fr["title"] == "Validation error"


def test_problem_titles_and_details_in_german(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    missing = f"/api/v1/posts/{uuid.uuid4()}"
    german = problem(client.get(missing, headers=GERMAN), 404)
    assert german["title"] == "Nicht gefunden"
    assert german["detail"] == "Es gibt keinen Beitrag mit dieser ID."
    english = problem(client.get(missing, headers=ENGLISH), 404)
    assert (english["title"], english["detail"]) == ("Not Found", "No post has that id.")

    refused = problem(client.get("/api/v1/users", headers={**accounts.alice, **GERMAN}), 403)
    assert refused["title"] == "Verboten"
    assert refused["detail"] == "Dafür ist die Admin-Rolle nötig."
    expired = problem(client.get("/api/v1/jobs", headers=GERMAN), 401)
    assert expired["title"] == "Nicht angemeldet"
    wrong = problem(
        client.post(
            "/api/v1/users/me/password",
            json={"current_password": "nope", "new_password": "a long new password"},
            headers={**accounts.alice, **GERMAN},
        ),
        400,
    )
    assert wrong["title"] == "Falsches Passwort"
    assert _fields(wrong) == {"current_password": "Das Passwort ist falsch."}


def test_unverified_refusal_in_german(
    app_config: dict[str, Any], redis: Redis, tmp_path: Path
) -> None:
    app_config["REQUIRE_VERIFIED_EMAIL"] = True
    with built_app(app_config) as app:
        client = app.test_client()
        body = {"username": "hans", "email": "hans@example.com", "password": PASSWORD}
        assert client.post(REGISTER, json=body).status_code == 201
        headers = {**auth_headers(client, "hans"), **GERMAN}
        refused = problem(
            client.post("/api/v1/posts", json={"title": "t", "body": "b"}, headers=headers), 403
        )
        assert refused["type"].endswith("/email-not-verified")
        assert refused["title"] == "E-Mail-Adresse nicht bestätigt"
        assert refused["detail"].startswith("Bestätigen Sie zuerst Ihre E-Mail-Adresse")


def test_details_with_values_in_german(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    """Sentences that carry a value are translated as a whole, the value kept."""

    def send(name: str, content: bytes, language: dict[str, str]) -> dict[str, Any]:
        files = {"file": (BytesIO(content), name)}
        headers = {**accounts.alice, **language}
        return problem(client.post(UPLOADS, data=files, headers=headers), 415)

    wrong_type = send("tool.exe", b"MZ", GERMAN)
    assert wrong_type["detail"].startswith("Dateien dieses Typs sind nicht erlaubt; erlaubt sind:")
    assert "png" in wrong_type["detail"]
    fake = send("photo.png", b"not a picture", GERMAN)
    assert fake["detail"] == "Der Inhalt ist keine gültige image/png-Datei."
    english = send("photo.png", b"not a picture", ENGLISH)
    assert english["detail"] == "The content is not a valid image/png file."

    job = {"type": "no-such-job", "params": {}}
    german = problem(client.post(JOBS, json=job, headers={**accounts.alice, **GERMAN}), 422)
    assert _fields(german)["type"].startswith("Unbekannter Job-Typ; erwartet wird einer von ")
    assert "demo" in _fields(german)["type"]


def test_mails_in_german(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    body = {"username": "greta", "email": "greta@example.com", "password": PASSWORD}
    assert client.post(REGISTER, json=body, headers=GERMAN).status_code == 201
    change = {"password": PASSWORD, "email": "alice@neu.example"}
    response = client.post(
        "/api/v1/users/me/email", json=change, headers={**accounts.alice, **GERMAN}
    )
    assert response.status_code == 202
    moved, welcome = delivered(app, client)
    assert welcome["subject"] == "Bestätigen Sie Ihre E-Mail-Adresse"
    assert welcome["body"].startswith("Hallo greta,")
    assert moved["subject"] == "Bestätigen Sie Ihre neue E-Mail-Adresse"
    assert "Bis dahin behält Ihr Konto seine bisherige Adresse." in moved["body"]
    assert moved["links"][0].startswith("http://127.0.0.1:5000/verify-email?token=")


def test_every_listed_detail_is_still_said_somewhere() -> None:
    """A listed detail that no code says any more would be a dead catalogue entry."""
    # The string constants of the code (a regex over the text would pair up the quotes inside
    # other literals wrongly).
    quoted = {
        node.value
        for path in PACKAGE.rglob("*.py")
        if path.name != "messages.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    stale = [detail for detail in messages.DETAILS if detail not in quoted]
    assert stale == []


def test_framework_and_input_refusals_in_german(
    client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    """Refusals made before any route runs (body checks, unknown URLs, sign-in) are German too."""
    not_json = client.post(
        REGISTER, data="{not json", headers={**GERMAN, "Content-Type": "application/json"}
    )
    assert problem(not_json, 400)["detail"] == "Der Inhalt der Anfrage ist kein gültiges JSON."
    form = client.post(REGISTER, data={"username": "x"}, headers=GERMAN)
    assert problem(form, 415)["detail"].startswith("Dieser Endpunkt erwartet JSON")
    nul = client.post(
        "/api/v1/posts", json={"title": "a\x00b", "body": ""}, headers={**accounts.alice, **GERMAN}
    )
    assert _fields(problem(nul, 422))["title"] == "Text darf das NUL-Zeichen nicht enthalten."
    huge = client.post(
        "/api/v1/posts", json={"title": 2**70, "body": ""}, headers={**accounts.alice, **GERMAN}
    )
    assert _fields(problem(huge, 422))["title"].startswith("Zahlen müssen ganze Zahlen von ")

    unknown = problem(client.get("/api/v1/no-such-thing", headers=GERMAN), 404)
    assert unknown["detail"].startswith("Die angefragte URL gibt es auf diesem Server nicht.")
    method = problem(client.delete("/api/v1/posts", headers=GERMAN), 405)
    assert method["detail"] == "Diese Methode ist für die angefragte URL nicht erlaubt."
    anonymous = problem(client.get("/api/v1/jobs", headers=GERMAN), 401)
    assert anonymous["detail"].startswith("Anmeldung erforderlich: ")
    forged = {**GERMAN, "Authorization": "Bearer not.a.token"}
    assert problem(client.get("/api/v1/jobs", headers=forged), 401)["detail"].startswith(
        "Das Token ist ungültig: "
    )
    # English stays as it was.
    english = problem(client.get("/api/v1/no-such-thing", headers=ENGLISH), 404)
    assert english["detail"].startswith("The requested URL was not found on the server.")


def test_werkzeug_details_are_werkzeugs_own() -> None:
    """The catalogue lists Werkzeug's descriptions word for word, or they go untranslated."""
    from werkzeug import exceptions

    described = {
        cls.description
        for cls in vars(exceptions).values()
        if isinstance(cls, type) and issubclass(cls, exceptions.HTTPException)
    }
    assert [detail for detail in messages.WERKZEUG_DETAILS if detail not in described] == []
