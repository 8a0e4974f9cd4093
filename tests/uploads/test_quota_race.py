"""The upload quota holds when one user's uploads arrive at the same time."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import sqlalchemy as sa
from apiflask import APIFlask
from redis import Redis

from flaskyard.extensions import db
from flaskyard.settings import get_settings
from flaskyard.uploads.models import Upload
from flaskyard.users.models import User
from tests.support.api import UPLOADS
from tests.support.fixtures import Accounts
from tests.uploads.test_routes import multipart, stored_files

PARALLEL = 8
FILE_BYTES = 1000
FITTING = 3


def _upload_together(app: APIFlask, headers: dict[str, str], count: int) -> list[int]:
    """``count`` uploads of FILE_BYTES each, released at once from their own threads."""
    start = threading.Barrier(count)

    def one(index: int) -> int:
        client = app.test_client()
        body = multipart(f"part-{index}.txt", bytes([97 + index % 26]) * FILE_BYTES)
        start.wait(timeout=30)
        return client.post(UPLOADS, headers=headers, **body).status_code

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))


def test_parallel_uploads_never_pass_the_quota(
    app_config: dict[str, Any], request: Any, redis: Redis
) -> None:
    app_config["USER_UPLOAD_QUOTA_BYTES"] = FITTING * FILE_BYTES
    app: APIFlask = request.getfixturevalue("app")
    accounts: Accounts = request.getfixturevalue("accounts")

    statuses = _upload_together(app, accounts.alice, PARALLEL)

    assert sorted(statuses) == [201] * FITTING + [413] * (PARALLEL - FITTING), statuses
    with app.app_context():
        owner = accounts.ids["alice"]
        stored = db.session.scalar(
            sa.select(sa.func.sum(Upload.size)).where(Upload.owner_id == owner)
        )
        counter = db.session.scalar(sa.select(User.upload_bytes).where(User.id == owner))
    assert stored == counter == FITTING * FILE_BYTES
    # The refused files were removed, not left on disk.
    upload_dir = get_settings(app).upload_dir
    assert len([name for name in stored_files(upload_dir) if not name.startswith(".")]) == FITTING


def test_the_counter_follows_every_stored_file(
    app_config: dict[str, Any], request: Any, redis: Redis
) -> None:
    app_config["USER_UPLOAD_QUOTA_BYTES"] = 2500
    app: APIFlask = request.getfixturevalue("app")
    accounts: Accounts = request.getfixturevalue("accounts")
    client = app.test_client()
    sizes = [1000, 1000, 600, 500]
    statuses = [
        client.post(
            UPLOADS, headers=accounts.alice, **multipart(f"f{i}.txt", b"z" * size)
        ).status_code
        for i, size in enumerate(sizes)
    ]
    assert statuses == [201, 201, 413, 201]
    with app.app_context():
        counter = db.session.scalar(
            sa.select(User.upload_bytes).where(User.id == accounts.ids["alice"])
        )
        other = db.session.scalar(
            sa.select(User.upload_bytes).where(User.id == accounts.ids["bob"])
        )
    assert (counter, other) == (2500, 0)
