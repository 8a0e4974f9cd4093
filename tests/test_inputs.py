"""Input no database can store gets a 4xx problem naming the field, never a 500."""

from __future__ import annotations

import http.client
import io
import json
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from sqlalchemy.engine import make_url

from flaskyard.devserver import free_port
from flaskyard.inputs import MAX_JSON_DEPTH
from flaskyard.uploads.storage import FILENAME_MAX, clean_filename
from tests.support import backends
from tests.support.api import LOGIN, POSTS, auth_headers, login, problem
from tests.support.apps import base_config, built_app
from tests.support.factories import UserFactory
from tests.support.servers import Gunicorn, clean_environ

USERS = "/api/v1/users"


def _fields(body: dict[str, Any]) -> set[tuple[str, str]]:
    return {(error["in"], error["field"]) for error in body["errors"]}


def test_nul_in_a_post_title_is_422_naming_the_field(
    client: FlaskClient, make_user: UserFactory
) -> None:
    make_user("alice")
    headers = auth_headers(client, "alice")
    response = client.post(POSTS, json={"title": "a\x00b", "body": "ok"}, headers=headers)
    assert ("json", "title") in _fields(problem(response, 422))


def test_lone_surrogate_at_sign_in_is_422_naming_the_field(
    client: FlaskClient, make_user: UserFactory
) -> None:
    make_user("alice")
    response = client.post(
        LOGIN,
        data='{"username": "\\ud800alice", "password": "x"}',
        content_type="application/json",
    )
    assert ("json", "username") in _fields(problem(response, 422))
    assert login(client, "alice").status_code == 200


def test_nul_in_a_query_parameter_is_422(client: FlaskClient, make_user: UserFactory) -> None:
    make_user("root", roles=("user", "admin"))
    response = client.get(f"{USERS}?q=a%00b", headers=auth_headers(client, "root"))
    assert ("query", "q") in _fields(problem(response, 422))


def test_a_json_endpoint_refuses_another_body_type_with_415(client: FlaskClient) -> None:
    response = client.post(LOGIN, data="username=alice&password=x", content_type="text/plain")
    assert "application/json" in problem(response, 415)["detail"]
    form = client.post(LOGIN, data={"username": "alice", "password": "x"})
    problem(form, 415)


def test_a_json_endpoint_without_a_body_still_reaches_its_schema(
    client: FlaskClient, make_user: UserFactory
) -> None:
    make_user("alice")
    problem(client.post(LOGIN), 422)  # fields missing, named as usual
    # The body of a sign-out is optional: none at all, and no Content-Type, is fine.
    assert (
        client.post("/api/v1/auth/logout", headers=auth_headers(client, "alice")).status_code == 204
    )


@pytest.mark.parametrize("page", ["99999999999999999999", "1000001"])
def test_a_page_past_what_the_database_counts_is_422(client: FlaskClient, page: str) -> None:
    assert ("query", "page") in _fields(problem(client.get(f"{POSTS}?page={page}"), 422))


def test_integers_wider_than_64_bits_are_422(client: FlaskClient, make_user: UserFactory) -> None:
    make_user("alice")
    response = client.post(
        "/api/v1/jobs",
        json={"type": "demo", "params": {"seconds": 2**70}},
        headers=auth_headers(client, "alice"),
    )
    assert ("json", "params.seconds") in _fields(problem(response, 422))


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "1e400"])
def test_non_finite_numbers_are_refused(client: FlaskClient, constant: str) -> None:
    response = client.post(
        LOGIN, data=f'{{"username": "a", "password": {constant}}}', content_type="application/json"
    )
    assert response.status_code in (400, 422)
    problem(response, response.status_code)


@backends.SQLITE
def test_deep_json_is_400_before_parsing(client: FlaskClient) -> None:
    deep = "[" * 100_000 + "]" * 100_000
    body = problem(client.post(LOGIN, data=deep, content_type="application/json"), 400)
    assert str(MAX_JSON_DEPTH) in body["detail"]
    # Brackets inside strings are text, not nesting.
    text = json.dumps({"username": "[" * 200, "password": "x"})
    assert client.post(LOGIN, data=text, content_type="application/json").status_code == 401


@backends.SQLITE
def test_malformed_json_is_400(client: FlaskClient) -> None:
    problem(client.post(LOGIN, data='{"username": ', content_type="application/json"), 400)


@backends.SQLITE
def test_json_over_its_limit_is_413(app_config: dict[str, Any]) -> None:
    app_config["MAX_JSON_BYTES"] = 1024
    with built_app(app_config) as application:
        body = json.dumps({"username": "a" * 2000, "password": "x"})
        response = application.test_client().post(LOGIN, data=body, content_type="application/json")
        problem(response, 413)


def test_an_overlong_file_name_keeps_its_extension() -> None:  # no database involved
    name = clean_filename("a" * 400 + ".png")
    assert len(name) == FILENAME_MAX
    assert name.endswith(".png")
    assert clean_filename("写真" * 300 + ".jpeg").endswith(".jpeg")


def test_an_overlong_file_name_is_stored_with_its_extension(
    client: FlaskClient, make_user: UserFactory
) -> None:
    make_user("alice")
    response = client.post(
        "/api/v1/uploads",
        data={"file": (io.BytesIO(b"hello"), "n" * 600 + ".txt")},
        headers=auth_headers(client, "alice"),
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["filename"].endswith(".txt")


# -- over a real server: chunked bodies, and a database that goes away and comes back ----------


@pytest.fixture
def server(redis_url: str, tmp_path: Path) -> Iterator[Gunicorn]:
    env = clean_environ(
        {
            "APP_ENV": "production",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "DATABASE_URL": f"sqlite:///{tmp_path / 'app.db'}",
            "REDIS_URL": redis_url,
            "MAX_JSON_BYTES": "4096",
            "MAX_UPLOAD_BYTES": "4096",
            "GUNICORN_WORKERS": "1",
            "GUNICORN_THREADS": "2",
            "GUNICORN_BIND": f"127.0.0.1:{free_port()}",
            "GUNICORN_PID_FILE": str(tmp_path / "gunicorn.pid"),
            "INSTANCE_DIR": str(tmp_path / "instance"),
            "RATELIMIT_KEY_PREFIX": f"inputs-{secrets.token_hex(8)}",
            "LOG_LEVEL": "WARNING",
        }
    )
    with Gunicorn(env, tmp_path / "gunicorn.log") as running:
        yield running


def _chunked(server: Gunicorn, content_type: str, chunks: Iterator[bytes]) -> int:
    host, port = server.address
    connection = http.client.HTTPConnection(host, port, timeout=30)
    try:
        connection.request(
            "POST",
            LOGIN,
            body=chunks,
            headers={"Content-Type": content_type, "Connection": "close"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        response.read()
        assert response.getheader("Content-Type") == "application/problem+json"
        return response.status
    finally:
        connection.close()


def test_a_chunked_body_over_the_limit_is_413(server: Gunicorn) -> None:
    def pieces(head: bytes, kib: int) -> Iterator[bytes]:
        yield head
        for _ in range(kib):
            yield b"a" * 1024

    # JSON is capped at MAX_JSON_BYTES, anything else at the upload size plus its framing.
    assert _chunked(server, "application/json", pieces(b'{"username": "', 64)) == 413
    form = "application/x-www-form-urlencoded"
    assert _chunked(server, form, pieces(b"username=", 1100)) == 413


class _Proxy:
    """A TCP relay to PostgreSQL that can be cut and restored: the database going away."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.listener: socket.socket | None = None
        self.connections: list[socket.socket] = []

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def stop(self) -> None:
        if self.listener is not None:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
            self.listener.close()
            self.listener = None
        for sock in self.connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        self.connections.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self.connections += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass


@backends.POSTGRES
def test_database_unreachable_is_503_and_recovers(database_url: str, tmp_path: Path) -> None:
    url = make_url(database_url)
    proxy = _Proxy((url.host or "127.0.0.1", url.port or 5432))
    proxied = url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    config = base_config(proxied, INSTANCE_DIR=tmp_path / "instance")
    with built_app(config) as application:
        client = application.test_client()

        def sign_in() -> Any:
            return client.post(LOGIN, json={"username": "nobody", "password": "x"})

        # Nothing listens yet: the database is unreachable.
        down = sign_in()
        body = problem(down, 503)
        assert int(down.headers["Retry-After"]) > 0
        assert str(proxy.port) not in body["detail"]
        proxy.start()
        try:
            assert sign_in().status_code == 401  # back without a restart
            proxy.stop()  # cut the pooled connection mid-life
            problem(sign_in(), 503)
            proxy.start()
            assert sign_in().status_code == 401
        finally:
            proxy.stop()
