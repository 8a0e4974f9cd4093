"""Export and import of posts: the round trip, hostile archives, bad items, at-least-once runs."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from flask.testing import FlaskClient
from redis import Redis

from flaskyard.extensions import db
from flaskyard.jobs import entry, tasks
from flaskyard.jobs.models import Job
from flaskyard.posts.models import Post
from flaskyard.settings import get_settings
from flaskyard.uploads import services as uploads
from flaskyard.uploads import storage
from flaskyard.users.models import User
from tests.support.api import UPLOADS, upload
from tests.support.apps import count_rows
from tests.support.backends import SQLITE
from tests.support.factories import image_bytes
from tests.support.fixtures import Accounts
from tests.support.jobs import get_job, run_inline_worker, start_job


def download(client: FlaskClient, headers: dict[str, str], upload_id: str) -> bytes:
    response = client.get(f"{UPLOADS}/{upload_id}", headers=headers)
    data = response.get_data()
    response.close()
    assert response.status_code == 200
    return data


def make_zip(entries: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in entries.items():
            archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return buffer.getvalue()


def posts_json(*items: dict[str, Any]) -> bytes:
    return json.dumps({"posts": list(items)}).encode()


def run_import(
    app: APIFlask, client: FlaskClient, headers: dict[str, str], upload_id: str
) -> dict[str, Any]:
    job = start_job(client, headers, "import_posts", upload_id=upload_id)
    run_inline_worker(app, ["low"])
    return get_job(client, headers, job["id"])


def files_outside(tmp_path: Path, upload_dir: Path) -> set[str]:
    return {
        str(path.relative_to(tmp_path))
        for path in tmp_path.rglob("*")
        if path.is_file() and upload_dir not in path.parents
    }


# -- the round trip ------------------------------------------------------------------------------


def _export(app: APIFlask, client: FlaskClient, headers: dict[str, str]) -> dict[str, Any]:
    export = start_job(client, headers, "export_posts")
    run_inline_worker(app, ["low"])
    return get_job(client, headers, export["id"])


def test_export_then_import_gives_the_same_posts(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    red, green, blue = (
        image_bytes(color=(255, 0, 0)),
        image_bytes(color=(0, 255, 0)),
        image_bytes(color=(0, 0, 255)),
    )
    images = [
        upload(client, accounts.alice, f"{n}.png", c) for n, c in enumerate((red, green, blue))
    ]
    originals = [
        {"title": "First", "body": "Plain body", "upload_ids": []},
        {"title": "With pictures", "body": "Ünïcödé and\nnew lines", "upload_ids": images[:2]},
        {"title": "Third", "body": "", "upload_ids": [images[2]]},
    ]
    for post in originals:
        response = client.post("/api/v1/posts", json=post, headers=accounts.alice)
        assert response.status_code == 201, response.get_data(as_text=True)
        assert sorted(response.get_json()["upload_ids"]) == sorted(post["upload_ids"])

    done = _export(app, client, accounts.alice)
    assert done["status"] == "finished", done
    assert done["result"]["posts"] == 3
    archive_bytes = download(client, accounts.alice, done["result"]["upload_id"])
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        exported = json.loads(archive.read("posts.json"))["posts"]
        assert [p["title"] for p in exported] == [p["title"] for p in originals]
        assert [len(p["images"]) for p in exported] == [0, 2, 1]
        assert sorted(archive.read(name) for name in exported[1]["images"]) == sorted([red, green])
        assert archive.read(exported[2]["images"][0]) == blue

    # bob imports alice's export as his own file: same titles, bodies and image bytes.
    mine = upload(client, accounts.bob, "posts-export.zip", archive_bytes)
    imported = run_import(app, client, accounts.bob, mine)
    assert imported["status"] == "finished", imported
    assert imported["result"]["imported"] == 3
    assert imported["result"]["failed"] == 0, imported["result"]
    page = client.get("/api/v1/posts?per_page=100").get_json()
    bobs = [p for p in page["items"] if p["author"]["username"] == "bob"]
    assert sorted((p["title"], p["body"]) for p in bobs) == sorted(
        (p["title"], p["body"]) for p in originals
    )
    by_title = {p["title"]: p for p in bobs}
    pictures = by_title["With pictures"]["upload_ids"]
    assert sorted(download(client, accounts.bob, i) for i in pictures) == sorted([red, green])
    assert [download(client, accounts.bob, i) for i in by_title["Third"]["upload_ids"]] == [blue]
    assert by_title["First"]["upload_ids"] == []
    assert not set(pictures) & set(images)  # bob got copies of his own


@SQLITE
def test_an_image_on_two_posts_is_exported_once(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    shared = upload(client, accounts.alice, "shared.png", image_bytes(color=(9, 9, 9)))
    for title in ("one", "two"):
        body = {"title": title, "body": "b", "upload_ids": [shared]}
        assert client.post("/api/v1/posts", json=body, headers=accounts.alice).status_code == 201
    done = _export(app, client, accounts.alice)
    assert done["status"] == "finished", done
    archive_bytes = download(client, accounts.alice, done["result"]["upload_id"])
    with zipfile.ZipFile(io.BytesIO(archive_bytes)) as archive:
        names = archive.namelist()
    assert len(names) == len(set(names)) == 2, names


# -- hostile archives ----------------------------------------------------------------------------


@SQLITE
def test_a_zip_bomb_is_refused_by_its_total_size(
    app_config: dict[str, Any], request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    app_config["IMPORT_MAX_BYTES"] = 10 * 1024 * 1024
    app, client, accounts = _build(request)
    bomb = make_zip({"posts.json": posts_json(), "zeros.bin": bytes(50 * 1024 * 1024)})
    assert len(bomb) < 1024 * 1024
    failed = run_import(app, client, accounts.alice, upload(client, accounts.alice, "b.zip", bomb))
    assert failed["status"] == "failed", failed
    assert f"more than {10 * 1024 * 1024} bytes" in failed["error"]
    assert count_rows("posts", app=app) == 0
    assert not any(p.stat().st_size > 1024 * 1024 for p in tmp_path.rglob("*") if p.is_file())


@SQLITE
def test_a_suspiciously_well_compressed_entry_is_refused(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    bomb = make_zip({"posts.json": posts_json(), "zeros.bin": bytes(5 * 1024 * 1024)})
    failed = run_import(app, client, accounts.alice, upload(client, accounts.alice, "r.zip", bomb))
    assert failed["status"] == "failed", failed
    assert "zeros.bin" in failed["error"] and "compressed suspiciously well" in failed["error"]
    assert count_rows("posts", app=app) == 0


@SQLITE
def test_too_many_entries_are_refused(
    app_config: dict[str, Any], request: pytest.FixtureRequest
) -> None:
    app_config["IMPORT_MAX_ENTRIES"] = 5
    app, client, accounts = _build(request)
    entries = {f"images/{n}.png": image_bytes(color=(n, n, n)) for n in range(5)}
    entries["posts.json"] = posts_json({"title": "t", "body": "b"})
    archive = make_zip(entries)
    failed = run_import(
        app, client, accounts.alice, upload(client, accounts.alice, "m.zip", archive)
    )
    assert failed["status"] == "failed", failed
    assert "more than 5 entries" in failed["error"]
    assert count_rows("posts", app=app) == 0


@SQLITE
@pytest.mark.parametrize(
    "name", ["../evil.txt", "/etc/evil.txt", "images/../../evil.txt", "..\\evil.txt", "C:evil.txt"]
)
def test_entries_outside_the_archive_are_refused(
    app: APIFlask,
    client: FlaskClient,
    accounts: Accounts,
    redis: Redis,
    tmp_path: Path,
    name: str,
) -> None:
    archive = make_zip(
        {"posts.json": posts_json({"title": "t", "body": "b", "images": [name]}), name: b"x"}
    )
    failed = run_import(
        app, client, accounts.alice, upload(client, accounts.alice, "t.zip", archive)
    )
    assert failed["status"] == "failed", failed
    assert "outside the archive" in failed["error"], failed["error"]
    assert count_rows("posts", app=app) == 0
    upload_dir = get_settings(app).upload_dir
    assert not any("evil" in p for p in files_outside(tmp_path, upload_dir))
    assert not (tmp_path.parent / "evil.txt").exists()
    assert count_rows("uploads", app=app) == 1  # only the archive itself


@SQLITE
def test_bad_images_inside_a_good_archive_fail_only_their_post(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    archive = make_zip(
        {
            "posts.json": posts_json(
                {"title": "good", "body": "b", "images": ["images/ok.png"]},
                {"title": "html", "body": "b", "images": ["images/page.png"]},
                {"title": "absent", "body": "b", "images": ["images/missing.png"]},
                {"title": "exe", "body": "b", "images": ["images/tool.exe"]},
            ),
            "images/ok.png": image_bytes(color=(1, 2, 3)),
            "images/page.png": b"<html><script>alert(1)</script></html>",
            "images/tool.exe": b"MZ" + bytes(100),
        }
    )
    done = run_import(app, client, accounts.alice, upload(client, accounts.alice, "i.zip", archive))
    assert done["status"] == "finished", done
    result = done["result"]
    assert (result["imported"], result["failed"]) == (1, 3), result
    assert [error["index"] for error in result["errors"]] == [1, 2, 3]
    assert all("images" in error["errors"] for error in result["errors"])
    assert count_rows("posts", app=app) == 1
    assert count_rows("uploads", app=app) == 2  # the archive and the one good image


# -- items, other people's files, repeated runs --------------------------------------------------


def test_invalid_items_are_reported_and_the_rest_imported(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    items = [
        {"title": "ok one", "body": "b1"},
        {"title": "", "body": "empty title"},
        "not an object",
        {"title": "t" * 201, "body": "too long a title"},
        {"body": "no title"},
        {"title": "ok two", "body": "b2"},
    ]
    upload_id = upload(client, accounts.alice, "posts.json", json.dumps(items).encode())
    done = run_import(app, client, accounts.alice, upload_id)
    assert done["status"] == "finished", done
    result = done["result"]
    assert (result["imported"], result["failed"], result["skipped"]) == (2, 4, 0), result
    assert [error["index"] for error in result["errors"]] == [1, 2, 3, 4]
    assert "title" in result["errors"][0]["errors"]
    page = client.get("/api/v1/posts").get_json()
    assert sorted(p["title"] for p in page["items"]) == ["ok one", "ok two"]


def test_a_second_delivery_does_not_duplicate(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    items = [{"title": f"post {n}", "body": "b"} for n in range(3)]
    upload_id = upload(client, accounts.alice, "posts.json", json.dumps(items).encode())
    job = start_job(client, accounts.alice, "import_posts", upload_id=upload_id)
    with app.app_context():
        first = entry.execute(job["id"])
        assert first is not None and first["imported"] == 3
        # Delivered again after it ended: nothing happens.
        assert entry.execute(job["id"]) == first
        # The worker died after importing but before recording the end: run it again.
        row = db.session.get(Job, uuid.UUID(job["id"]))
        assert row is not None
        row.status, row.ended_at, row.result = "started", None, None
        db.session.commit()
        again = entry.execute(job["id"])
    assert again is not None
    assert (again["imported"], again["skipped"]) == (0, 3), again
    assert count_rows("posts", app=app) == 3
    assert get_job(client, accounts.alice, job["id"])["status"] == "finished"


@SQLITE
def test_importing_someone_elses_or_a_text_upload_fails(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    alices = upload(client, accounts.alice, "posts.json", posts_json({"title": "t", "body": "b"}))
    failed = run_import(app, client, accounts.bob, alices)
    assert failed["status"] == "failed", failed
    assert "not yours" in failed["error"]
    text = upload(client, accounts.alice, "notes.txt", b"title: body")
    failed = run_import(app, client, accounts.alice, text)
    assert failed["status"] == "failed"
    assert "Only zip and JSON" in failed["error"]
    shapeless = upload(client, accounts.alice, "x.json", b'{"items": []}')
    failed = run_import(app, client, accounts.alice, shapeless)
    assert failed["status"] == "failed"
    assert "list of posts" in failed["error"]
    assert count_rows("posts", app=app) == 0


def _build(request: pytest.FixtureRequest) -> tuple[APIFlask, FlaskClient, Accounts]:
    """``app``, ``client`` and ``accounts`` after the test changed ``app_config``."""
    request.getfixturevalue("redis")
    return (
        request.getfixturevalue("app"),
        request.getfixturevalue("client"),
        request.getfixturevalue("accounts"),
    )


# -- idempotent imports and the per-import cap --------------------------------------------------


def _posts_of(app: APIFlask, username: str) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Post.title, Post.body).join(User).where(User.username == username)
        ).all()
    return sorted((title, body) for title, body in rows)


def test_importing_the_same_export_twice_creates_nothing_new(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    picture = upload(client, accounts.alice, "p.png", image_bytes(color=(1, 2, 3)))
    for title, ids in (("one", []), ("two", [picture]), ("three", [])):
        body = {"title": title, "body": f"{title} body", "upload_ids": ids}
        assert client.post("/api/v1/posts", json=body, headers=accounts.alice).status_code == 201
    export = _export(app, client, accounts.alice)
    archive_bytes = download(client, accounts.alice, export["result"]["upload_id"])

    first = run_import(
        app, client, accounts.bob, upload(client, accounts.bob, "a.zip", archive_bytes)
    )
    assert first["result"]["imported"] == 3, first
    bobs = _posts_of(app, "bob")
    uploads_after_first = count_rows("uploads", app=app)
    # The same file again, uploaded again: every item is skipped, nothing is added.
    again = run_import(
        app, client, accounts.bob, upload(client, accounts.bob, "b.zip", archive_bytes)
    )
    assert again["status"] == "finished", again
    result = again["result"]
    assert (result["imported"], result["skipped"], result["failed"]) == (0, 3, 0), result
    assert _posts_of(app, "bob") == bobs
    # Only the second archive itself was stored; no image copies.
    assert count_rows("uploads", app=app) == uploads_after_first + 1
    # alice importing her own export: she has every post already.
    own = run_import(
        app, client, accounts.alice, upload(client, accounts.alice, "c.zip", archive_bytes)
    )
    assert (own["result"]["imported"], own["result"]["skipped"]) == (0, 3), own
    assert len(_posts_of(app, "alice")) == 3


def test_a_file_without_ids_is_recognised_by_its_content(
    app: APIFlask, client: FlaskClient, accounts: Accounts, redis: Redis
) -> None:
    items = posts_json({"title": "same", "body": "b"}, {"title": "other", "body": "b"})
    first = run_import(app, client, accounts.alice, upload(client, accounts.alice, "1.json", items))
    assert first["result"]["imported"] == 2, first
    changed = posts_json({"title": "same", "body": "b"}, {"title": "new", "body": "b"})
    second = run_import(
        app, client, accounts.alice, upload(client, accounts.alice, "2.json", changed)
    )
    assert (second["result"]["imported"], second["result"]["skipped"]) == (1, 1), second
    assert [title for title, _ in _posts_of(app, "alice")] == ["new", "other", "same"]
    # Another user importing the same file gets posts of their own.
    bobs = run_import(app, client, accounts.bob, upload(client, accounts.bob, "3.json", items))
    assert bobs["result"]["imported"] == 2, bobs


def test_an_import_creates_at_most_the_configured_posts(
    app_config: dict[str, Any], request: pytest.FixtureRequest, redis: Redis
) -> None:
    app_config["IMPORT_MAX_POSTS"] = 2
    app: APIFlask = request.getfixturevalue("app")
    client: FlaskClient = request.getfixturevalue("client")
    accounts: Accounts = request.getfixturevalue("accounts")
    items = posts_json(*({"title": f"post {n}", "body": "b"} for n in range(5)))
    upload_id = upload(client, accounts.alice, "many.json", items)

    done = run_import(app, client, accounts.alice, upload_id)
    assert done["status"] == "finished", done
    result = done["result"]
    assert (result["imported"], result["left_over"], result["max_posts"]) == (2, 3, 2), result
    assert "At most 2 posts" in result["note"] and "3 items were left out" in result["note"]
    assert done["message"] == result["note"]
    assert count_rows("posts", app=app) == 2
    # Running it again continues where it stopped; the third run finishes the file.
    second = run_import(app, client, accounts.alice, upload_id)["result"]
    assert (second["imported"], second["skipped"], second["left_over"]) == (2, 2, 1), second
    third = run_import(app, client, accounts.alice, upload_id)["result"]
    assert (third["imported"], third["skipped"], third["left_over"]) == (1, 4, 0), third
    assert "note" not in third
    assert count_rows("posts", app=app) == 5


def test_an_import_that_loses_the_race_for_a_post_skips_it(
    app: APIFlask, accounts: Accounts, redis: Redis
) -> None:
    # Two imports of one file at once both find the item missing; the unique (author,
    # source) decides, and the loser counts it as skipped and keeps none of its images.
    source = f"post:{uuid.uuid4()}"
    owner = accounts.ids["alice"]
    with app.app_context():
        db.session.add(Post(author_id=owner, title="first", body="b", source=source))
        db.session.commit()
        stored = storage.store_bytes(
            image_bytes(color=(5, 5, 5)), filename="x.png", upload_dir=uploads.upload_dir()
        )
        image = uploads.record(session=db.session, owner_id=owner, stored=stored)
        added = tasks._add_post(owner, {"title": "second", "body": "b"}, source, [image])
        assert added is False
        assert not stored.path.exists()
    assert count_rows("posts", app=app) == 1
    assert count_rows("uploads", app=app) == 0
    assert count_rows("users", "upload_bytes <> 0", app=app) == 0  # its bytes uncounted too
