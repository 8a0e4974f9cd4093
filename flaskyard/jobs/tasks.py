"""The job functions. Each takes ids, reports progress through one helper, and is idempotent.

Like a route, a task is a caller: the services it uses flush, and the task commits.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
import uuid
import zipfile
from pathlib import PurePosixPath
from typing import Any

import sqlalchemy as sa
from marshmallow import ValidationError

from flaskyard.extensions import db
from flaskyard.jobs.models import Job
from flaskyard.jobs.runtime import JobFailed, report_progress
from flaskyard.posts.models import Post
from flaskyard.posts.schemas import PostIn
from flaskyard.settings import current_settings
from flaskyard.uploads import services as uploads
from flaskyard.uploads import storage
from flaskyard.uploads.models import Upload

THUMBNAIL_SIZE = (256, 256)
#: The decoders a thumbnail may use: the image types uploads accept (uploads.storage), no other
#: (the image carries no others: see docker/slim_venv.py).
THUMBNAIL_FORMATS = ("PNG", "JPEG", "GIF", "WEBP")
EXPORT_NAME = "posts.json"


def _owner_id(job_id: uuid.UUID) -> uuid.UUID:
    owner = db.session.scalar(sa.select(Job.owner_id).where(Job.id == job_id))
    if owner is None:
        raise JobFailed("The job's record is gone.")
    return owner


def _own_upload(job_id: uuid.UUID, upload_id: str) -> Upload:
    upload = db.session.get(Upload, uuid.UUID(str(upload_id)))
    if upload is None or upload.owner_id != _owner_id(job_id):
        raise JobFailed("That upload does not exist or is not yours.")
    return upload


def demo(job_id: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
    """Sleep through ``steps`` steps, reporting progress after each one."""
    steps, seconds, fail_at = int(params["steps"]), float(params["seconds"]), params.get("fail_at")
    for step in range(1, steps + 1):
        time.sleep(seconds / steps)
        if fail_at is not None and step == int(fail_at):
            raise JobFailed(f"Failed at step {step} of {steps}, as asked.")
        report_progress(step * 100 / steps, f"Step {step} of {steps}")
    return {"steps": steps, "seconds": seconds}


def export_posts(job_id: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
    """A zip of the owner's posts (``posts.json``) and their images, stored as an upload."""
    row = db.session.get(Job, job_id)
    if row is not None and row.result:
        return row.result  # already exported on an earlier delivery
    owner_id = _owner_id(job_id)
    posts = db.session.scalars(
        sa.select(Post).where(Post.author_id == owner_id).order_by(Post.created_at, Post.id)
    ).all()
    buffer = io.BytesIO()
    items: list[dict[str, Any]] = []
    written: set[str] = set()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for index, post in enumerate(posts, 1):
            images = []
            for upload in post.uploads:
                name = f"images/{upload.id}.{upload.filename.rsplit('.', 1)[-1].lower()}"
                if name not in written:  # an image on several posts is stored once
                    archive.write(uploads.file_path(upload), name)
                    written.add(name)
                images.append(name)
            items.append(
                {
                    # Lets a later import of this file know which posts it already has.
                    "id": str(post.id),
                    "title": post.title,
                    "body": post.body,
                    "created_at": post.created_at.isoformat(),
                    "images": images,
                }
            )
            report_progress(index * 90 / max(len(posts), 1), f"Exported {index} of {len(posts)}")
        archive.writestr(EXPORT_NAME, json.dumps({"posts": items}, ensure_ascii=False, indent=1))
    stored = storage.store_bytes(
        buffer.getvalue(), filename="posts-export.zip", upload_dir=uploads.upload_dir()
    )
    upload = uploads.record(session=db.session, owner_id=owner_id, stored=stored)
    db.session.commit()
    report_progress(100, "Export ready")
    return {"upload_id": str(upload.id), "posts": len(items)}


def _check_archive(archive: zipfile.ZipFile) -> None:
    settings = current_settings()
    entries = archive.infolist()
    if len(entries) > settings.IMPORT_MAX_ENTRIES:
        raise JobFailed(f"The archive has more than {settings.IMPORT_MAX_ENTRIES} entries.")
    total = sum(entry.file_size for entry in entries)
    if total > settings.IMPORT_MAX_BYTES:
        raise JobFailed(f"The archive unpacks to more than {settings.IMPORT_MAX_BYTES} bytes.")
    for entry in entries:
        path = PurePosixPath(entry.filename)
        if (
            entry.filename.startswith(("/", "\\"))
            or "\\" in entry.filename
            or ".." in path.parts
            or ":" in entry.filename
        ):
            raise JobFailed(f"The archive entry {entry.filename!r} points outside the archive.")
        ratio = entry.file_size / max(entry.compress_size, 1)
        if entry.file_size > 1024 * 1024 and ratio > settings.IMPORT_MAX_RATIO:
            raise JobFailed(
                f"The archive entry {entry.filename!r} is compressed suspiciously well."
            )


def _read_entry(archive: zipfile.ZipFile, name: str) -> bytes:
    info = archive.getinfo(name)
    with archive.open(info) as handle:
        data = handle.read(info.file_size + 1)
    if len(data) > info.file_size:
        raise JobFailed(f"The archive entry {name!r} is larger than it claims.")
    return data


def _load_items(upload: Upload) -> tuple[list[Any], zipfile.ZipFile | None]:
    path = uploads.file_path(upload)
    if upload.content_type == "application/json":
        data = json.loads(path.read_text(encoding="utf-8"))
        archive = None
    elif upload.content_type == "application/zip":
        archive = zipfile.ZipFile(path)
        _check_archive(archive)
        try:
            data = json.loads(_read_entry(archive, EXPORT_NAME).decode("utf-8"))
        except KeyError as exc:
            raise JobFailed(f"The archive has no {EXPORT_NAME}.") from exc
        except (UnicodeDecodeError, ValueError) as exc:
            raise JobFailed(f"{EXPORT_NAME} is not valid JSON.") from exc
    else:
        raise JobFailed("Only zip and JSON uploads can be imported.")
    items = data.get("posts") if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise JobFailed('Expected a list of posts, or an object with a "posts" list.')
    return items, archive


def _identity(item: dict[str, Any]) -> str:
    """What makes an imported item the same post on a second import (``posts.source``).

    An export names each post's id; a hand-made file may not, and then its content decides.
    """
    raw_id = item.get("id")
    if isinstance(raw_id, str):
        try:
            return f"post:{uuid.UUID(raw_id)}"
        except ValueError:
            pass
    content = [item.get(key) for key in ("title", "body", "created_at", "images")]
    digest = hashlib.sha256(json.dumps(content, sort_keys=True, default=str).encode()).hexdigest()
    return f"sha256:{digest}"


def _already_imported(owner_id: uuid.UUID, source: str) -> bool:
    """Whether the owner has this post: imported before, or their own original (own export)."""
    mine = Post.author_id == owner_id
    found = db.session.scalar(sa.select(Post.id).where(mine, Post.source == source).limit(1))
    if found is None and source.startswith("post:"):
        original = uuid.UUID(source.removeprefix("post:"))
        found = db.session.scalar(sa.select(Post.id).where(mine, Post.id == original))
    return found is not None


def import_posts(job_id: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
    """Import the valid posts of a zip or JSON upload that the owner does not have yet.

    Idempotent: each item's identity is kept in ``posts.source`` (unique per author), so a
    second import of the same file, or a second delivery of this job, skips what is there.
    At most ``IMPORT_MAX_POSTS`` posts are created per job; the result says how many items
    were left for another run.
    """
    owner_id = _owner_id(job_id)
    items, archive = _load_items(_own_upload(job_id, params["upload_id"]))
    limit = current_settings().IMPORT_MAX_POSTS
    errors: list[dict[str, Any]] = []
    imported = skipped = 0
    schema = PostIn()
    for index, item in enumerate(items):
        if imported >= limit:
            break
        try:
            if not isinstance(item, dict):
                raise ValidationError({"_item": ["Each post must be an object."]})
            source = _identity(item)
            if _already_imported(owner_id, source):
                skipped += 1
                continue
            data = schema.load({"title": item.get("title"), "body": item.get("body")})
            images = _import_images(archive, item.get("images") or [], owner_id)
        except ValidationError as exc:
            errors.append({"index": index, "errors": exc.messages})
            continue
        except JobFailed as exc:
            errors.append({"index": index, "errors": {"images": [str(exc)]}})
            continue
        if _add_post(owner_id, data, source, images):
            imported += 1
        else:
            skipped += 1
        report_progress((index + 1) * 100 / len(items), f"Imported {imported} of {len(items)}")
    left_over = len(items) - imported - skipped - len(errors)
    result: dict[str, Any] = {
        "imported": imported,
        "skipped": skipped,
        "failed": len(errors),
        "errors": errors[:100],
        "left_over": left_over,
        "max_posts": limit,
    }
    if left_over:
        note = (
            f"At most {limit} posts are imported per job: {left_over} items were left out. "
            "Import the same file again to continue; what is there already is skipped."
        )
        result["note"] = note
        report_progress(100, note)
    return result


def _add_post(owner_id: uuid.UUID, data: dict[str, Any], source: str, images: list[Upload]) -> bool:
    """Commit one imported post; False when a parallel import of the same item won the race."""
    post = Post(author_id=owner_id, title=data["title"], body=data["body"], source=source)
    post.uploads = images
    db.session.add(post)
    paths = [uploads.file_path(image) for image in images]
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        for path in paths:  # their rows were rolled back with the post
            storage.remove(path)
        return False
    return True


def _import_images(
    archive: zipfile.ZipFile | None, names: Any, owner_id: uuid.UUID
) -> list[Upload]:
    """Store the images of one item; when one fails, none of them stays (rows or files)."""
    if not isinstance(names, list):
        raise JobFailed("The item's images must be a list of archive entries.")
    images: list[Upload] = []
    try:
        for name in names:
            images.append(_import_image(archive, name, owner_id))
    except JobFailed:
        paths = [uploads.file_path(image) for image in images]
        db.session.rollback()
        for path in paths:
            storage.remove(path)
        raise
    return images


def _import_image(archive: zipfile.ZipFile | None, name: Any, owner_id: uuid.UUID) -> Upload:
    if archive is None or not isinstance(name, str) or name not in archive.namelist():
        raise JobFailed(f"Image {name!r} is not in the archive.")
    try:
        stored = uploads.store_checked(
            session=db.session,
            owner_id=owner_id,
            stream=io.BytesIO(_read_entry(archive, name)),
            filename=PurePosixPath(name).name,
        )
    except storage.UploadRejected as exc:
        raise JobFailed(f"Image {name!r}: {exc.detail}") from exc
    try:
        return uploads.record(
            session=db.session,
            owner_id=owner_id,
            stored=stored,
            quota=current_settings().USER_UPLOAD_QUOTA_BYTES,
        )
    except storage.UploadRejected as exc:
        raise JobFailed(f"Image {name!r}: {exc.detail}") from exc


def thumbnail(job_id: uuid.UUID, params: dict[str, Any]) -> dict[str, Any]:
    """A small PNG preview of an image upload, itself stored as an upload."""
    upload = _own_upload(job_id, params["upload_id"])
    if upload.thumbnail_id is not None:
        return {"thumbnail_id": str(upload.thumbnail_id)}
    if not upload.is_image:
        raise JobFailed("Only images get thumbnails.")
    from PIL import Image, UnidentifiedImageError  # only workers pay for Pillow

    report_progress(10, "Reading image")
    try:
        with Image.open(uploads.file_path(upload), formats=THUMBNAIL_FORMATS) as image:
            image.thumbnail(THUMBNAIL_SIZE)
            output = io.BytesIO()
            image.save(output, format="PNG")
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError) as exc:
        raise JobFailed(f"The image cannot be read: {exc}") from exc
    stored = storage.store_bytes(
        output.getvalue(), filename=f"thumb-{upload.id}.png", upload_dir=uploads.upload_dir()
    )
    thumb = uploads.record(session=db.session, owner_id=upload.owner_id, stored=stored)
    upload.thumbnail_id = thumb.id
    db.session.commit()
    report_progress(100, "Thumbnail ready")
    return {"thumbnail_id": str(thumb.id)}
