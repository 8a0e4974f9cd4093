"""A Python client generated from the live OpenAPI document works against the live API.

openapi-python-client builds the client into a temporary folder (failing on any warning, so
a part of the document it cannot turn into code fails the test); the test imports it and
signs in, uploads a picture and posts it, lists posts, downloads the picture (the same
bytes), starts a job, reads it, cancels it and reads its event stream to the end.
"""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.factories import image_bytes
from tests.support.live_api import USER, LiveApi

pytestmark = pytest.mark.slow

PACKAGE = "flaskyard_client"


@pytest.fixture
def generated(live_api: LiveApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Generate the client from the served document and import it."""
    reply = live_api.server.request("GET", "/api/openapi.json")
    assert reply.status == 200
    document = tmp_path / "openapi.json"
    document.write_bytes(reply.body)
    # No post hooks: they format the code with ruff, which is not needed to run it.
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"post_hooks": []}))
    generator = Path(sys.executable).with_name("openapi-python-client")
    done = subprocess.run(  # noqa: S603 - our own tool and arguments
        [
            str(generator),
            "generate",
            "--path",
            str(document),
            "--meta",
            "none",
            "--output-path",
            str(tmp_path / PACKAGE),
            "--config",
            str(config),
            "--fail-on-warning",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    monkeypatch.syspath_prepend(str(tmp_path))
    return importlib.import_module(PACKAGE)


def _call(package: Any, module: str) -> Any:
    return importlib.import_module(f"{package.__name__}.api.{module}")


@pytest.mark.timeout(300)  # it may be the test that starts the server, on a loaded machine
def test_a_generated_client_signs_in_posts_downloads_and_follows_a_job(
    live_api: LiveApi, generated: Any
) -> None:
    models = importlib.import_module(f"{PACKAGE}.models")
    with generated.Client(base_url=live_api.url, raise_on_unexpected_status=True) as client:
        pair = _call(generated, "auth.post_auth_login").sync(
            client=client, body=models.LoginIn(username=USER[0], password=live_api.user_password)
        )
        assert isinstance(pair, models.TokenPairOut), pair
        with generated.AuthenticatedClient(
            base_url=live_api.url, token=pair.access_token, raise_on_unexpected_status=True
        ) as signed_in:
            _as_user(generated, client, signed_in)


def _as_user(generated: Any, client: Any, signed_in: Any) -> None:
    """Everything after signing in: ``client`` has no token, ``signed_in`` the user's."""
    models = importlib.import_module(f"{PACKAGE}.models")
    types = importlib.import_module(f"{PACKAGE}.types")
    me = _call(generated, "users.get_users_me").sync(client=signed_in)
    assert me.username == USER[0]

    picture = image_bytes(size=(4, 3), color=(200, 30, 60))
    upload = _call(generated, "uploads.post_uploads_upload").sync(
        client=signed_in,
        body=models.UploadIn(
            file=types.File(payload=io.BytesIO(picture), file_name="dot.png", mime_type="image/png")
        ),
    )
    assert isinstance(upload, models.UploadOut), upload
    post = _call(generated, "posts.post_posts_create_post").sync(
        client=signed_in,
        body=models.PostIn(title="Generated", body="From the client.", upload_ids=[upload.id]),
    )
    assert isinstance(post, models.PostOut), post

    page = _call(generated, "posts.get_posts_list_posts").sync(client=client)
    assert isinstance(page, models.PostPageOut), page
    listed = {item.id: item for item in page.items}
    assert post.id in listed and listed[post.id].title == "Generated"

    download = _call(generated, "uploads.get_uploads_download")
    file = download.sync(upload_id=str(upload.id), client=signed_in)
    assert isinstance(file, types.File), file
    assert file.payload.read() == picture
    # Attached to a post, the picture is public: no token needed.
    public = download.sync(upload_id=str(upload.id), client=client)
    assert isinstance(public, types.File) and public.payload.read() == picture

    job = _call(generated, "jobs.post_jobs_create_job").sync(
        client=signed_in,
        body=models.JobIn(
            type_="demo", params=models.JobInParams.from_dict({"seconds": 0, "steps": 1})
        ),
    )
    assert isinstance(job, models.JobOut), job
    read = _call(generated, "jobs.get_jobs_get_job").sync(job_id=str(job.id), client=signed_in)
    assert isinstance(read, models.JobOut) and read.id == job.id and read.type_ == "demo"
    assert read.status in {"queued", "started", "finished"}

    canceled = _call(generated, "jobs.delete_jobs_cancel_job").sync(
        job_id=str(job.id), client=signed_in
    )
    ended = {"canceled", "finished"}
    assert isinstance(canceled, models.JobOut) and canceled.status in ended
    # The job has ended, so its stream sends the final state and closes.
    stream = _call(generated, "jobs.get_jobs_job_events").sync(job_id=str(job.id), client=signed_in)
    assert isinstance(stream, str) and "event: job" in stream
    final = json.loads(stream.split("data: ")[-1].splitlines()[0])
    assert final["id"] == str(job.id) and final["status"] in ended
