"""Cookie mode for the SPA: the refresh token in an HttpOnly cookie, guarded by a CSRF header."""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient

from flaskyard.extensions import db
from flaskyard.users.services import ensure_roles
from tests.support.api import LOGOUT, REFRESH, bearer, login, me_status, problem
from tests.support.apps import built_app
from tests.support.factories import UserFactory, make_user

pytestmark = pytest.mark.usefixtures("roles")
COOKIE_PATH = "/api/v1/auth/"


def _set_cookie(response: Any, name: str) -> str:
    headers = [h for h in response.headers.getlist("Set-Cookie") if h.startswith(f"{name}=")]
    assert len(headers) == 1, response.headers.getlist("Set-Cookie")
    return str(headers[0])


def _attributes(header: str) -> dict[str, str]:
    parts = [part.strip() for part in header.split(";")[1:]]
    return {k.lower(): v for k, _, v in (part.partition("=") for part in parts)}


@pytest.fixture
def cookie_login(client: FlaskClient, make_user: UserFactory) -> Any:
    make_user("alice")
    response = login(client, "alice", cookie=True)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response


def test_login_sets_a_hardened_refresh_cookie(client: FlaskClient, cookie_login: Any) -> None:
    body = cookie_login.get_json()
    assert "refresh_token" not in body
    assert body["token_type"] == "Bearer"
    assert me_status(client, body["access_token"]) == 200

    attributes = _attributes(_set_cookie(cookie_login, "refresh_token_cookie"))
    assert "httponly" in attributes
    assert "secure" in attributes
    assert attributes["samesite"] == "Strict"
    assert attributes["path"] == COOKIE_PATH
    assert "max-age" in attributes or "expires" in attributes

    csrf = _attributes(_set_cookie(cookie_login, "csrf_refresh_token"))
    assert "httponly" not in csrf  # the SPA must read it to echo it back
    assert "secure" in csrf
    assert client.get_cookie("refresh_token_cookie", path=COOKIE_PATH) is not None
    assert client.get_cookie("csrf_refresh_token") is not None

    # Refreshing by cookie needs the CSRF header.
    response = client.post(REFRESH)
    assert response.status_code in (401, 403)
    problem(response, response.status_code)
    wrong = client.post(REFRESH, headers={"X-CSRF-TOKEN": "not-the-token"})
    assert wrong.status_code in (401, 403)


def test_refresh_by_cookie_rotates_the_cookie_and_logout_clears_it(
    client: FlaskClient, cookie_login: Any
) -> None:
    old = client.get_cookie("refresh_token_cookie", path=COOKIE_PATH)
    csrf = client.get_cookie("csrf_refresh_token")
    assert old is not None and csrf is not None
    response = client.post(REFRESH, headers={"X-CSRF-TOKEN": csrf.value})
    assert response.status_code == 200, response.get_data(as_text=True)
    body = response.get_json()
    assert "refresh_token" not in body
    assert me_status(client, body["access_token"]) == 200
    new_cookie = _set_cookie(response, "refresh_token_cookie")
    new = client.get_cookie("refresh_token_cookie", path=COOKIE_PATH)
    assert new is not None and new.value != old.value
    assert new.value in new_cookie

    # Logout clears both cookies.
    response = client.post(LOGOUT, headers=bearer(body["access_token"]))
    assert response.status_code == 204
    assert client.get_cookie("refresh_token_cookie", path=COOKIE_PATH) is None
    assert client.get_cookie("csrf_refresh_token") is None
    assert client.post(REFRESH, headers=bearer(new.value)).status_code == 401


def test_replayed_refresh_cookie_kills_the_login(client: FlaskClient, cookie_login: Any) -> None:
    old = client.get_cookie("refresh_token_cookie", path=COOKIE_PATH)
    csrf = client.get_cookie("csrf_refresh_token")
    assert old is not None and csrf is not None
    response = client.post(REFRESH, headers={"X-CSRF-TOKEN": csrf.value})
    assert response.status_code == 200
    access = response.get_json()["access_token"]
    # The spent cookie value, replayed (as a bearer token), revokes the whole login.
    problem(client.post(REFRESH, headers=bearer(old.value)), 401)
    assert me_status(client, access) == 401
    csrf = client.get_cookie("csrf_refresh_token")
    assert csrf is not None
    assert client.post(REFRESH, headers={"X-CSRF-TOKEN": csrf.value}).status_code == 401


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # cookie flags, not rows
@pytest.mark.parametrize(("mode", "secure"), [("development", False), ("production", True)])
def test_refresh_cookie_is_secure_except_in_development(
    app_config: dict[str, Any], mode: str, secure: bool
) -> None:
    # `make run` serves http://127.0.0.1:5000, where not every browser keeps a Secure cookie.
    app_config.pop("APP_ENV", None)
    app_config["SECRET_KEY"] = "p" + "x7Q!" * 12
    app_config["JWT_SECRET_KEY"] = "j" + "k9W?" * 12
    with built_app(app_config, mode=mode) as app:
        with app.app_context():
            ensure_roles(session=db.session)
            make_user(db.session, "erin", password="a fine password")
            db.session.commit()
        response = login(app.test_client(), "erin", "a fine password", cookie=True)
        assert response.status_code == 200, response.get_data(as_text=True)
        for name in ("refresh_token_cookie", "csrf_refresh_token"):
            attributes = _attributes(_set_cookie(response, name))
            assert ("secure" in attributes) is secure, (mode, name)
            assert attributes["samesite"] == "Strict"
