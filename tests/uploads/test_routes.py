"""Uploads: allowed types, downloads, names, spoofed content, sizes and quota, nothing left over."""

from __future__ import annotations

import io
import json
import os
import uuid
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from flask.testing import FlaskClient
from PIL import Image
from redis import Redis

from flaskyard.extensions import db
from flaskyard.settings import get_settings
from tests.support.api import UPLOADS, problem
from tests.support.apps import count_rows
from tests.support.backends import SQLITE
from tests.support.factories import image_bytes
from tests.support.fixtures import Accounts
from tests.support.jobs import get_job, run_inline_worker, start_job

HEX_NAME = "0123456789abcdef"


def image(fmt: str, size: tuple[int, int] = (600, 400)) -> bytes:
    return image_bytes(fmt, size, (200, 30, 30))


def zip_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("hello.txt", "hello from a zip\n")
    return buffer.getvalue()


def multipart(filename: bytes | str, content: bytes, field: str = "file") -> dict[str, Any]:
    """A hand-made multipart body, so the filename reaches the server byte for byte."""
    raw = filename.encode() if isinstance(filename, str) else filename
    boundary = f"flaskyard-test-{uuid.uuid4().hex}"
    body = (
        f"--{boundary}\r\n".encode()
        + f'Content-Disposition: form-data; name="{field}"; filename="'.encode()
        + raw
        + b'"\r\nContent-Type: application/octet-stream\r\n\r\n'
        + content
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return {"data": body, "content_type": f"multipart/form-data; boundary={boundary}"}


def upload(
    client: FlaskClient, headers: dict[str, str], filename: bytes | str, content: bytes
) -> Any:
    return client.post(UPLOADS, headers=headers, **multipart(filename, content))


def fetch(client: FlaskClient, url: str, headers: dict[str, str] | None = None) -> Any:
    """GET ``url``, read the body and close the response (it may hold the stored file open)."""
    response = client.get(url, headers=headers or {})
    response.get_data()
    response.close()
    return response


def stored_files(upload_dir: Path) -> set[str]:
    """Every file under UPLOAD_DIR, as paths relative to it."""
    found = set()
    for root, _dirs, files in os.walk(upload_dir):
        for name in files:
            found.add(str((Path(root) / name).relative_to(upload_dir)))
    return found


def assert_nothing_stored(app: APIFlask) -> None:
    """No file under UPLOAD_DIR (an empty ``.incoming`` may stay), no row."""
    upload_dir = get_settings(app).upload_dir
    assert stored_files(upload_dir) == set()
    incoming = upload_dir / ".incoming"
    assert not incoming.exists() or list(incoming.iterdir()) == []
    assert count_rows("uploads", app=app) == 0


def storage_names(app: APIFlask) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(sa.text("SELECT storage_name FROM uploads")))


# -- the allowed types ---------------------------------------------------------------------------


ALLOWED: list[tuple[str, str, Callable[[], bytes]]] = [
    ("photo.png", "image/png", lambda: image("PNG")),
    ("photo.jpg", "image/jpeg", lambda: image("JPEG")),
    ("photo.jpeg", "image/jpeg", lambda: image("JPEG")),
    ("anim.gif", "image/gif", lambda: image("GIF")),
    ("pic.webp", "image/webp", lambda: image("WEBP")),
    ("bundle.zip", "application/zip", zip_bytes),
    ("data.json", "application/json", lambda: json.dumps({"a": [1, 2], "b": "ü"}).encode()),
    ("notes.txt", "text/plain", lambda: "plain text, naïve UTF-8\n".encode()),
    ("SHOUT.PNG", "image/png", lambda: image("PNG")),
]


def test_upload_and_download_each_allowed_type(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    upload_dir = get_settings(app).upload_dir
    for filename, content_type, make in ALLOWED:
        content = make()
        response = upload(client, accounts.alice, filename, content)
        assert response.status_code == 201, (filename, response.get_data(as_text=True))
        body = response.get_json()
        assert {"id", "filename", "content_type", "size", "url"} <= body.keys()
        assert uuid.UUID(body["id"])
        assert body["filename"] == filename
        assert body["content_type"] == content_type, filename
        assert body["size"] == len(content)
        assert body["url"] == f"{UPLOADS}/{body['id']}"
        assert response.headers["Location"].endswith(body["url"])

        owner = fetch(client, body["url"], accounts.alice)
        assert owner.status_code == 200
        assert owner.data == content, filename
        assert owner.mimetype == content_type
        disposition = owner.headers["Content-Disposition"]
        assert disposition.startswith("attachment;"), disposition
        assert f"filename={filename}" in disposition
        assert owner.headers["X-Content-Type-Options"] == "nosniff"

        admin = fetch(client, body["url"], accounts.admin)
        assert admin.status_code == 200 and admin.data == content
        problem(fetch(client, body["url"], accounts.bob), 404)
        problem(fetch(client, body["url"]), 401)

    problem(fetch(client, f"{UPLOADS}/{uuid.uuid4()}", accounts.alice), 404)
    # Each stored once, under a server-made name, inside UPLOAD_DIR, and nothing else there.
    names = storage_names(app)
    assert len(names) == len(ALLOWED)
    assert all(len(name) == 32 and set(name) <= set(HEX_NAME) for name in names), names
    assert stored_files(upload_dir) == {f"{name[:2]}/{name}" for name in names}


@SQLITE
def test_anonymous_upload_is_401(app: APIFlask, client: FlaskClient, redis: Redis) -> None:
    problem(upload(client, {}, "notes.txt", b"hello"), 401)
    assert_nothing_stored(app)


def test_missing_file_field_is_422(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    body = problem(
        client.post(UPLOADS, headers=accounts.alice, **multipart("notes.txt", b"hi", "other")),
        422,
    )
    assert "file" in json.dumps(body.get("errors"))
    problem(client.post(UPLOADS, headers=accounts.alice, data={}), 422)
    # A CR/LF in the name breaks the part's headers: not a file either.
    problem(upload(client, accounts.alice, b"line\r\nbreak.txt", b"hi"), 422)
    assert_nothing_stored(app)


# -- hostile names -------------------------------------------------------------------------------

HOSTILE_NAMES = [
    (b"../../etc/passwd.txt", "etc_passwd.txt"),
    (b"/etc/cron.d/evil.txt", "etc_cron.d_evil.txt"),
    (b"..\\..\\windows\\win.txt", None),
    (b"a\x00b.txt", "ab.txt"),
    (b"\x1b[31mred\x07.txt", None),
    (b"....//....//x.txt", "x.txt"),
    (b".hidden.txt", "hidden.txt"),
]


def test_hostile_names_are_cleaned_and_stored_under_server_names(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis, tmp_path: Path
) -> None:
    stored = []
    for raw, expected in HOSTILE_NAMES:
        response = upload(client, accounts.alice, raw, b"harmless text\n")
        assert response.status_code == 201, (raw, response.get_data(as_text=True))
        name = response.get_json()["filename"]
        stored.append(name)
        if expected is not None:
            assert name == expected, raw
        assert name.endswith(".txt")
        assert "/" not in name and "\\" not in name and ".." not in name, name
        assert not name.startswith("."), name
        assert all(32 <= ord(ch) < 127 for ch in name), repr(name)
        download = fetch(client, response.get_json()["url"], accounts.alice)
        assert download.status_code == 200
        assert "\r" not in download.headers["Content-Disposition"]
        assert "\n" not in download.headers["Content-Disposition"]

    upload_dir = get_settings(app).upload_dir
    names = storage_names(app)
    assert len(names) == len(HOSTILE_NAMES)
    assert stored_files(upload_dir) == {f"{n[:2]}/{n}" for n in names}
    # Nothing was written anywhere else in the test's directory.
    outside = {
        str(path.relative_to(tmp_path))
        for path in tmp_path.rglob("*")
        if path.is_file() and upload_dir not in path.parents
    }
    assert not any("passwd" in p or "evil" in p or "win" in p for p in outside), outside
    assert not (tmp_path / "etc").exists() and not (upload_dir.parent / "etc").exists()


@SQLITE
def test_a_non_ascii_name_keeps_its_type(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    response = upload(client, accounts.alice, "写真.png", image("PNG"))
    assert response.status_code == 201, response.get_data(as_text=True)
    assert response.get_json()["filename"].endswith(".png")


# -- content that does not match its name -------------------------------------------------------

HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"
SPOOFED = [
    ("page.png", HTML),
    ("page.txt", HTML),
    ("page.txt", b"  \n<HTML><script>alert(1)</script>"),
    ("drawing.txt", b'<svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>'),
    ("xml.json", b'<?xml version="1.0"?><a/>'),
    ("binary.txt", image("PNG")),
    ("nul.txt", b"text with a \x00 byte"),
    ("latin1.txt", "caf\xe9".encode("latin-1")),
    ("broken.json", b'{"a": 1,'),
    ("gif.png", image("GIF")),
    ("zip.png", zip_bytes()),
    ("text.zip", b"not a zip at all"),
    ("jpeg.webp", image("JPEG")),
    ("page.html", HTML),
    ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg"/>'),
    ("tool.exe", b"MZ\x90\x00" + b"\x00" * 60),
    ("noextension", b"plain"),
    ("photo.png.html", HTML),
]


def test_spoofed_or_forbidden_types_are_415(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    for filename, content in SPOOFED:
        response = upload(client, accounts.alice, filename, content)
        assert response.status_code == 415, (filename, content[:40], response.status_code)
        assert problem(response, 415)["detail"]
        assert_nothing_stored(app)


@SQLITE
@pytest.mark.parametrize(
    "content",
    [b"\xef\xbb\xbf<!DOCTYPE html><html><script>alert(1)</script></html>", b"<!-- hi --><html>"],
    ids=["bom", "comment"],
)
def test_disguised_html_named_txt_is_415(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis, content: bytes
) -> None:
    problem(upload(client, accounts.alice, "page.txt", content), 415)


# -- sizes and quota -----------------------------------------------------------------------------


@pytest.fixture
def small_limits(app_config: dict[str, Any]) -> None:
    app_config["MAX_UPLOAD_BYTES"] = 1000
    app_config["USER_UPLOAD_QUOTA_BYTES"] = 3000


def test_size_limit_is_exact(
    small_limits: None, app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    body = problem(upload(client, accounts.alice, "big.txt", b"x" * 1001), 413)
    assert "1000" in body["detail"]
    assert_nothing_stored(app)
    assert upload(client, accounts.alice, "fits.txt", b"x" * 1000).status_code == 201
    assert count_rows("uploads", app=app) == 1


@SQLITE
def test_a_huge_body_is_refused(
    small_limits: None, app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    problem(upload(client, accounts.alice, "huge.txt", b"y" * (5 * 1024 * 1024)), 413)
    assert_nothing_stored(app)


def test_quota(app_config: dict[str, Any], client_factory: Any, redis: Redis) -> None:
    app_config["USER_UPLOAD_QUOTA_BYTES"] = 3000
    app, client, accounts = client_factory()
    assert upload(client, accounts.alice, "one.txt", b"a" * 2000).status_code == 201
    body = problem(upload(client, accounts.alice, "two.txt", b"b" * 2000), 413)
    assert "quota" in body["detail"].lower()
    assert count_rows("uploads", app=app) == 1
    assert len(stored_files(get_settings(app).upload_dir)) == 1
    assert list((get_settings(app).upload_dir / ".incoming").iterdir()) == []
    # The quota is per user: bob still has his, and alice can use what she has left.
    assert upload(client, accounts.bob, "bob.txt", b"c" * 2000).status_code == 201
    assert upload(client, accounts.alice, "rest.txt", b"d" * 1000).status_code == 201
    problem(upload(client, accounts.alice, "more.txt", b"e"), 413)


@pytest.fixture
def client_factory(request: pytest.FixtureRequest) -> Any:
    """``app``, ``client`` and ``accounts``, built only when the test has set its config."""

    def build() -> tuple[APIFlask, FlaskClient, Accounts]:
        return (
            request.getfixturevalue("app"),
            request.getfixturevalue("client"),
            request.getfixturevalue("accounts"),
        )

    return build


# -- thumbnails ----------------------------------------------------------------------------------


@pytest.fixture
def one_active_job_each(app_config: dict[str, Any]) -> None:
    app_config["JOB_MAX_ACTIVE_PER_USER"] = 1


def test_an_image_uploaded_at_the_job_cap_is_stored_without_a_thumbnail(
    one_active_job_each: None, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    start_job(client, accounts.alice, steps=1)
    response = upload(client, accounts.alice, "photo.png", image("PNG", (40, 30)))
    assert response.status_code == 201, response.get_data(as_text=True)
    jobs = fetch(client, "/api/v1/jobs", accounts.alice).get_json()
    assert [job["type"] for job in jobs["items"]] == ["demo"]
    stored = fetch(client, f"{UPLOADS}/{response.get_json()['id']}", accounts.alice)
    assert stored.status_code == 200 and stored.mimetype == "image/png"


def test_an_image_gets_a_thumbnail_job(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    original = upload(client, accounts.alice, "photo.jpg", image("JPEG", (900, 600))).get_json()
    upload(client, accounts.alice, "notes.txt", b"no thumbnail for text")
    jobs = fetch(client, "/api/v1/jobs", accounts.alice).get_json()
    assert [job["type"] for job in jobs["items"]] == ["thumbnail"]
    job = jobs["items"][0]
    assert job["status"] == "queued"

    run_inline_worker(app, ["low"])
    done = get_job(client, accounts.alice, job["id"])
    assert done["status"] == "finished", done
    thumb_id = done["result"]["thumbnail_id"]
    thumb = fetch(client, f"{UPLOADS}/{thumb_id}", accounts.alice)
    assert thumb.status_code == 200 and thumb.mimetype == "image/png"
    with Image.open(io.BytesIO(thumb.data)) as preview:
        assert max(preview.size) == 256 and preview.size == (256, 171)
    # The original now points at its thumbnail; nobody else can fetch it.
    assert original["thumbnail_id"] is None
    problem(fetch(client, f"{UPLOADS}/{thumb_id}", accounts.bob), 404)
    assert count_rows("uploads", app=app) == 3
    assert len(stored_files(get_settings(app).upload_dir)) == 3
