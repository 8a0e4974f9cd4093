"""Files on posts: attachments in post bodies, public reads while attached, the uploads list."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from apiflask import APIFlask
from flask.testing import FlaskClient
from PIL import Image
from redis import Redis

from tests.support.api import POSTS, UPLOADS, problem
from tests.support.fixtures import Accounts
from tests.support.jobs import run_inline_worker
from tests.uploads.test_routes import fetch, image, upload

FILE_CSP = "default-src 'none'; sandbox"


def stored(
    client: FlaskClient, headers: dict[str, str], name: str, content: bytes
) -> dict[str, Any]:
    response = upload(client, headers, name, content)
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def write(client: FlaskClient, headers: dict[str, str], upload_ids: list[str]) -> dict[str, Any]:
    response = client.post(
        POSTS, json={"title": "Pictures", "body": "b", "upload_ids": upload_ids}, headers=headers
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    body: dict[str, Any] = response.get_json()
    return body


def assert_served_as_a_file(response: Any, content_type: str) -> None:
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == content_type
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Content-Security-Policy"] == FILE_CSP
    assert response.headers["Content-Disposition"].startswith("attachment;")


def test_posts_list_their_attachments_in_upload_ids_order(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    photo = stored(client, accounts.alice, "photo.png", image("PNG", (640, 480)))
    notes = stored(client, accounts.alice, "notes.txt", b"some notes\n")
    run_inline_worker(app, ["low"])  # the photo's thumbnail
    post = write(client, accounts.alice, [photo["id"], notes["id"]])

    for body in (post, client.get(f"{POSTS}/{post['id']}").get_json()):
        attachments = body["attachments"]
        assert [a["id"] for a in attachments] == body["upload_ids"]
        by_id = {a["id"]: a for a in attachments}
        assert by_id[photo["id"]]["filename"] == "photo.png"
        assert by_id[photo["id"]]["content_type"] == "image/png"
        assert by_id[photo["id"]]["size"] == photo["size"]
        assert by_id[photo["id"]]["url"] == f"{UPLOADS}/{photo['id']}"
        assert by_id[photo["id"]]["thumbnail_url"].startswith(f"{UPLOADS}/")
        assert by_id[notes["id"]]["thumbnail_url"] is None
        assert set(by_id[notes["id"]]) == {
            "id",
            "filename",
            "content_type",
            "size",
            "url",
            "thumbnail_url",
        }
    [item] = client.get(POSTS).get_json()["items"]
    assert item["attachments"] == post["attachments"]
    # The list writes its JSON by hand (the hot path); it must match the schema, field for field.
    assert item == client.get(f"{POSTS}/{post['id']}").get_json()


def test_attached_files_and_their_thumbnails_are_public(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    photo = stored(client, accounts.alice, "photo.jpg", image("JPEG", (500, 300)))
    secret = stored(client, accounts.alice, "diary.txt", b"private\n")
    run_inline_worker(app, ["low"])
    listed = client.get(UPLOADS, headers=accounts.alice).get_json()["items"]
    thumbnail_id = next(item["thumbnail_id"] for item in listed if item["id"] == photo["id"])
    assert thumbnail_id is not None
    thumb_url = f"{UPLOADS}/{thumbnail_id}"

    # Before it is attached, the photo is private: 401 signed out, 404 to another user.
    problem(fetch(client, photo["url"]), 401)
    problem(fetch(client, photo["url"], accounts.bob), 404)
    problem(fetch(client, thumb_url, accounts.bob), 404)

    post = write(client, accounts.alice, [photo["id"]])
    signed_out = fetch(client, photo["url"])
    assert_served_as_a_file(signed_out, "image/jpeg")
    with Image.open(io.BytesIO(signed_out.data)) as picture:
        assert picture.size == (500, 300)
    assert_served_as_a_file(fetch(client, photo["url"], accounts.bob), "image/jpeg")
    thumb = fetch(client, thumb_url)
    assert_served_as_a_file(thumb, "image/png")
    assert thumb.headers["Cache-Control"] == "public, no-cache"
    # Unattached files stay private.
    problem(fetch(client, secret["url"]), 401)
    problem(fetch(client, secret["url"], accounts.bob), 404)
    owner = fetch(client, secret["url"], accounts.alice)
    assert_served_as_a_file(owner, "text/plain")
    assert owner.headers["Cache-Control"] == "private, no-store"
    assert fetch(client, secret["url"], accounts.admin).status_code == 200

    # Detached again (the post is deleted), the photo is private again.
    assert client.delete(f"{POSTS}/{post['id']}", headers=accounts.alice).status_code == 204
    problem(fetch(client, photo["url"]), 401)
    problem(fetch(client, thumb_url, accounts.bob), 404)
    assert fetch(client, photo["url"], accounts.alice).status_code == 200


def test_the_uploads_list_is_mine_newest_first_without_thumbnails(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("posts.json", '{"posts": []}')
    names = ["a.txt", "b.json", "c.png", "d.zip"]
    contents = [b"a\n", b'{"posts": []}', image("PNG"), archive.getvalue()]
    made = [stored(client, accounts.alice, n, c) for n, c in zip(names, contents, strict=True)]
    stored(client, accounts.bob, "bob.txt", b"bob\n")
    run_inline_worker(app, ["low"])  # c.png gets a thumbnail, itself an upload of alice's

    response = client.get(UPLOADS, headers=accounts.alice)
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_json()
    assert page["total"] == 4 and page["page"] == 1 and page["per_page"] == 20
    assert [item["id"] for item in page["items"]] == [m["id"] for m in reversed(made)]
    first = page["items"][0]
    assert {"id", "filename", "content_type", "size", "url", "created_at"} <= first.keys()
    assert first["url"] == f"{UPLOADS}/{first['id']}"
    png = next(item for item in page["items"] if item["filename"] == "c.png")
    assert png["thumbnail_id"] is not None

    second = client.get(f"{UPLOADS}?page=2&per_page=3", headers=accounts.alice).get_json()
    assert [item["filename"] for item in second["items"]] == ["a.txt"]
    assert second["total"] == 4
    assert client.get(UPLOADS, headers=accounts.bob).get_json()["total"] == 1
    problem(client.get(UPLOADS), 401)
    problem(client.get(f"{UPLOADS}?per_page=101", headers=accounts.alice), 422)


def test_a_thumbnail_made_after_posting_shows_in_the_cached_feed(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    photo = stored(client, accounts.alice, "photo.png", image("PNG"))
    write(client, accounts.alice, [photo["id"]])
    [before] = client.get(POSTS).get_json()["items"]  # rendered and cached now
    assert before["attachments"][0]["thumbnail_url"] is None
    run_inline_worker(app, ["low"])
    [after] = client.get(POSTS).get_json()["items"]
    thumbnail_url = after["attachments"][0]["thumbnail_url"]
    assert thumbnail_url is not None
    assert_served_as_a_file(fetch(client, thumbnail_url), "image/png")
