"""The development mailbox: every delivered mail, newest first, with its links; 404 elsewhere."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from flaskyard.config import ConfigError, load_settings
from flaskyard.settings import get_settings
from tests.support.api import REGISTER, problem
from tests.support.apps import built_app
from tests.support.devmail import DEV_MAIL


@pytest.fixture(autouse=True)
def _inline_mail(app_config: dict[str, Any]) -> None:
    """No queue: the web process delivers the mail itself, during the request."""
    app_config["REDIS_URL"] = ""


def register(client: FlaskClient, name: str) -> None:
    body = {"username": name, "email": f"{name}@example.com", "password": "a fine password"}
    response = client.post(REGISTER, json=body)
    assert response.status_code == 201, response.get_data(as_text=True)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # files, not rows
def test_development_lists_every_mail_newest_first_with_links(
    app_config: dict[str, Any], tmp_path: Path
) -> None:
    app_config.pop("APP_ENV", None)
    with built_app(app_config, mode="development") as app:
        client = app.test_client()
        assert client.get(DEV_MAIL).get_json() == {"items": []}
        register(client, "first")
        register(client, "second")
        response = client.get(DEV_MAIL)
        assert response.status_code == 200
        items = response.get_json()["items"]
        assert [item["to"] for item in items] == ["second@example.com", "first@example.com"]
        newest = items[0]
        assert set(newest) == {"id", "to", "subject", "body", "sent_at", "links"}
        assert "confirm" in newest["subject"].lower()
        assert newest["sent_at"].endswith("+00:00")
        [link] = newest["links"]
        assert link.startswith("http://127.0.0.1:5000/verify-email?token=")
        assert link in newest["body"]
        # Kept as files in the instance folder, where a worker process writes them too.
        stored = sorted((Path(app.instance_path) / "mailbox").glob("*.json"))
        assert [json.loads(path.read_text())["id"] for path in stored] == [
            item["id"] for item in reversed(items)
        ]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_public_url_is_the_base_of_mail_links(app_config: dict[str, Any]) -> None:
    app_config.update(DEV_MAILBOX=True, PUBLIC_URL="https://flaskyard.example/")
    with built_app(app_config) as app:
        client = app.test_client()
        register(client, "carol")
        [mail] = client.get(DEV_MAIL).get_json()["items"]
        assert mail["links"][0].startswith("https://flaskyard.example/verify-email?token=")


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_off_is_404_and_keeps_nothing(app_config: dict[str, Any]) -> None:
    # Testing mode: off unless DEV_MAILBOX is set.
    with built_app(app_config) as app:
        client = app.test_client()
        register(client, "dave")
        body = problem(client.get(DEV_MAIL), 404)
        assert "mailbox" in body["detail"]
        assert not (Path(app.instance_path) / "mailbox").exists()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_production_is_404(app_config: dict[str, Any]) -> None:
    app_config.pop("APP_ENV", None)
    app_config["SECRET_KEY"] = "p" + "x7Q!" * 12
    app_config["JWT_SECRET_KEY"] = "j" + "k9W?" * 12
    with built_app(app_config, mode="production") as app:
        assert get_settings(app).production
        problem(app.test_client().get(DEV_MAIL), 404)


def test_production_refuses_dev_mailbox() -> None:
    secrets = {"SECRET_KEY": "p" + "x7Q!" * 12, "JWT_SECRET_KEY": "j" + "k9W?" * 12}
    with pytest.raises(ConfigError, match="DEV_MAILBOX"):
        load_settings({"APP_ENV": "production", "DEV_MAILBOX": "true", **secrets})
    assert load_settings({"APP_ENV": "development"}).dev_mailbox is True
    assert load_settings({"APP_ENV": "development", "DEV_MAILBOX": "false"}).dev_mailbox is False
    assert load_settings({"APP_ENV": "testing"}).dev_mailbox is False
    assert load_settings({"APP_ENV": "production", **secrets}).dev_mailbox is False


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_production_without_mail_server_logs_no_token(
    app_config: dict[str, Any], capfd: pytest.CaptureFixture[str]
) -> None:
    app_config.pop("APP_ENV", None)
    app_config["LOG_LEVEL"] = "INFO"
    app_config["SECRET_KEY"] = "p" + "x7Q!" * 12
    app_config["JWT_SECRET_KEY"] = "j" + "k9W?" * 12
    with built_app(app_config, mode="production") as app:
        client = app.test_client()
        capfd.readouterr()
        register(client, "quiet")
    out, err = capfd.readouterr()
    logged = out + err
    assert "quiet@example.com" in logged  # the mail was logged, without its body
    assert "token" not in logged.lower(), logged
    assert "verify-email" not in logged, logged
