"""The front end: index.html for client routes, hashed assets cached for a year, the API docs."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from apiflask import APIFlask
from flask.testing import FlaskClient

INDEX = "<!doctype html><title>Flaskyard SPA</title><script src=/assets/app-abc.js></script>"


@pytest.fixture
def frontend(tmp_path: Path) -> Path:
    """A built front end: index.html, one hashed asset and a top-level file."""
    dist = tmp_path / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "index.html").write_text(INDEX, encoding="utf-8")
    (dist / "assets" / "app-abc.js").write_text("console.log('hi');", encoding="utf-8")
    (dist / "robots.txt").write_text("User-agent: *\n", encoding="utf-8")
    (tmp_path / "outside.txt").write_text("private", encoding="utf-8")
    return dist


@pytest.fixture
def spa(app_config: dict[str, Any], frontend: Path, request: pytest.FixtureRequest) -> FlaskClient:
    app_config["FRONTEND_DIR"] = frontend
    app: APIFlask = request.getfixturevalue("app")
    return app.test_client()


def _get(client: FlaskClient, path: str) -> Any:
    """GET ``path`` and read the body, closing the file a file response holds open."""
    response = client.get(path)
    response.get_data()
    response.close()
    return response


def _assert_index(response: Any) -> None:
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert response.get_data(as_text=True) == INDEX
    assert response.headers["Cache-Control"] == "no-cache"


def test_root_serves_index(spa: FlaskClient) -> None:
    _assert_index(_get(spa, "/"))


@pytest.mark.parametrize(
    "path", ["/some/client/route", "/posts", "/users/42/edit", "/admin/users", "/admin"]
)
def test_client_routes_serve_index(spa: FlaskClient, path: str) -> None:
    _assert_index(_get(spa, path))


def test_dev_mail_page_is_404_where_the_mailbox_is_off(
    app_config: dict[str, Any], frontend: Path, request: pytest.FixtureRequest
) -> None:
    app_config.update(FRONTEND_DIR=frontend, DEV_MAILBOX=False)
    app: APIFlask = request.getfixturevalue("app")
    response = _get(app.test_client(), "/dev/mail")
    assert response.status_code == 404
    # The SPA still renders it, to say why there is nothing to see.
    assert response.get_data(as_text=True) == INDEX


def test_dev_mail_page_where_the_mailbox_is_on(
    app_config: dict[str, Any], frontend: Path, request: pytest.FixtureRequest
) -> None:
    app_config.update(FRONTEND_DIR=frontend, DEV_MAILBOX=True)
    app: APIFlask = request.getfixturevalue("app")
    _assert_index(_get(app.test_client(), "/dev/mail"))


def test_a_mangled_query_on_a_client_route_is_still_the_app(spa: FlaskClient) -> None:
    """The page, not a JSON 422: the app asks the API, which names the field, and shows that."""
    _assert_index(_get(spa, "/admin/users?q=a%00b"))
    assert _get(spa, "/api/v1/users?q=a%00b").status_code == 422


def test_index_html_by_name_is_not_cached(spa: FlaskClient) -> None:
    _assert_index(_get(spa, "/index.html"))


def test_hashed_asset_is_cached_for_a_year(spa: FlaskClient) -> None:
    response = _get(spa, "/assets/app-abc.js")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "console.log('hi');"
    cache = {part.strip() for part in response.headers["Cache-Control"].split(",")}
    assert "max-age=31536000" in cache
    assert "immutable" in cache
    assert "javascript" in response.mimetype


def test_top_level_file_is_served(spa: FlaskClient) -> None:
    response = _get(spa, "/robots.txt")
    assert response.status_code == 200
    assert response.get_data(as_text=True) == "User-agent: *\n"


def test_missing_asset_is_404_not_index(spa: FlaskClient) -> None:
    response = _get(spa, "/assets/app-missing.js")
    assert response.status_code == 404
    assert INDEX not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/assets/../../outside.txt", "/assets/..%2F..%2Foutside.txt", "/..%2Foutside.txt"]
)
def test_no_path_traversal(spa: FlaskClient, path: str) -> None:
    response = _get(spa, path)
    assert "private" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "path", ["/api", "/api/unknown", "/api/v1/nothing", "/admin/rq", "/admin/rq/whatever"]
)
def test_server_paths_are_not_the_spa(
    app_config: dict[str, Any], frontend: Path, request: pytest.FixtureRequest, path: str
) -> None:
    # Without Redis the dashboard is not mounted, so its paths must 404 rather than fall to
    # the SPA; with it mounted, test_dashboard_is_not_the_spa checks they reach the dashboard.
    app_config.pop("REDIS_URL", None)
    app_config["FRONTEND_DIR"] = frontend
    spa = request.getfixturevalue("app").test_client()
    response = _get(spa, path)
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    assert response.get_json(force=True)["status"] == 404


def test_the_job_dashboard_is_not_the_spa(spa: FlaskClient, redis_url: str) -> None:
    # Mounted (Redis is configured): the dashboard answers, asking for an admin's credentials.
    for path in ("/admin/rq/", "/admin/rq/0/view/workers"):
        response = _get(spa, path)
        assert response.status_code == 401
        assert response.mimetype == "application/problem+json"


def test_missing_build_shows_a_notice(
    app_config: dict[str, Any], tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    app_config["FRONTEND_DIR"] = empty
    client = request.getfixturevalue("app").test_client()
    for path in ("/", "/some/client/route"):
        response = _get(client, path)
        assert response.status_code == 200
        assert response.mimetype == "text/html"
        text = response.get_data(as_text=True)
        assert "front end" in text
        assert "not been built" in text
        assert response.headers["Cache-Control"] == "no-cache"


@pytest.fixture
def api_client(app_config: dict[str, Any], request: pytest.FixtureRequest) -> FlaskClient:
    """A client of an app without Redis, so rq-dashboard is not mounted."""
    app_config.pop("REDIS_URL", None)
    app: APIFlask = request.getfixturevalue("app")
    return app.test_client()


def _spec(client: FlaskClient) -> dict[str, Any]:
    # APIFlask warns while building this spec (see test_openapi_spec_builds_cleanly).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        response = client.get("/api/openapi.json")
    assert response.status_code == 200
    assert response.mimetype == "application/json"
    spec: dict[str, Any] = response.get_json()
    return spec


def test_openapi_spec(api_client: FlaskClient) -> None:
    spec = _spec(api_client)
    assert spec["openapi"].startswith("3.")
    assert spec["info"]["title"] == "Flaskyard API"
    assert "get" in spec["paths"]["/api/v1/posts"]
    assert "get" in spec["paths"]["/api/v1/posts/{post_id}"]
    assert "/healthz" in spec["paths"]
    assert not any(path == "/" or "{path}" in path for path in spec["paths"])


def test_openapi_spec_with_the_dashboard_mounted(client: FlaskClient, redis_url: str) -> None:
    assert _spec(client)["openapi"].startswith("3.")


def test_openapi_spec_builds_cleanly(api_client: FlaskClient) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = api_client.get("/api/openapi.json").get_json()
    assert not [name for name in spec["components"]["schemas"] if name[-1].isdigit()]


def test_openapi_documents_problem_json_errors(api_client: FlaskClient) -> None:
    spec = _spec(api_client)
    not_found = spec["paths"]["/api/v1/posts/{post_id}"]["get"]["responses"]["404"]
    content = not_found["content"]
    assert "application/problem+json" in content
    ref = content["application/problem+json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    properties = spec["components"]["schemas"][ref]["properties"]
    assert {"type", "title", "status", "detail"} <= properties.keys()


def test_api_docs(client: FlaskClient) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "/api/openapi.json" in response.get_data(as_text=True)
