"""Upload rules: quota, ownership, recording stored files."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import IO, Any, cast

import sqlalchemy as sa
import sqlalchemy.orm as so

from flaskyard.core.auth import Principal
from flaskyard.core.paging import Page
from flaskyard.database import DbSession
from flaskyard.settings import current_settings
from flaskyard.uploads import storage
from flaskyard.uploads.models import Upload, post_uploads
from flaskyard.users.models import User


def upload_dir() -> Path:
    """The configured storage folder."""
    return current_settings().upload_dir


def used_bytes(*, session: DbSession, owner_id: uuid.UUID) -> int:
    """How many bytes ``owner_id`` has stored (the counter :func:`record` keeps)."""
    return int(session.scalar(sa.select(User.upload_bytes).where(User.id == owner_id)) or 0)


def _charge(session: DbSession, owner_id: uuid.UUID, size: int, quota: int | None) -> bool:
    """Add ``size`` to the owner's counter; with ``quota``, only when the total stays within it.

    One conditional UPDATE reads and writes the counter under the row's lock, so parallel
    uploads (web threads, processes, import jobs) cannot all pass a check made before any of
    them was counted. The lock is held until the caller commits or rolls back.
    """
    statement = (
        sa.update(User)
        .where(User.id == owner_id)
        .values(upload_bytes=User.upload_bytes + size)
        .execution_options(synchronize_session=False)
    )
    if quota is not None:
        statement = statement.where(User.upload_bytes + size <= quota)
    result = session.execute(statement)
    return bool(cast(sa.CursorResult[Any], result).rowcount)


def create_upload(
    *, session: DbSession, owner: Principal, stream: IO[bytes], filename: str | None
) -> Upload:
    """Check and store a file for ``owner``; the caller commits (or calls ``discard``)."""
    stored = store_checked(session=session, owner_id=owner.id, stream=stream, filename=filename)
    return record(
        session=session,
        owner_id=owner.id,
        stored=stored,
        quota=current_settings().USER_UPLOAD_QUOTA_BYTES,
    )


def store_checked(
    *, session: DbSession, owner_id: uuid.UUID, stream: IO[bytes], filename: str | None
) -> storage.StoredFile:
    """Check a file against the size limit and ``owner_id``'s quota, and move it into place.

    The quota check here only spares the disk a file that cannot fit; the binding one is
    :func:`record` with ``quota``.
    """
    settings = current_settings()
    return storage.store(
        stream,
        client_filename=filename,
        upload_dir=settings.upload_dir,
        max_bytes=settings.MAX_UPLOAD_BYTES,
        quota_left=settings.USER_UPLOAD_QUOTA_BYTES
        - used_bytes(session=session, owner_id=owner_id),
    )


def record(
    *,
    session: DbSession,
    owner_id: uuid.UUID,
    stored: storage.StoredFile,
    quota: int | None = None,
) -> Upload:
    """Add the database row for a file already in place, and count its bytes.

    With ``quota`` (files users send), a file that would take its owner past it is removed
    and refused (UploadRejected 413); files the server makes (exports, thumbnails) are
    counted without one.
    """
    if not _charge(session, owner_id, stored.size, quota):
        storage.remove(stored.path)
        left = (quota or 0) - used_bytes(session=session, owner_id=owner_id)
        raise storage.over_quota(left)
    upload = Upload(
        owner_id=owner_id,
        filename=stored.filename,
        content_type=stored.content_type,
        size=stored.size,
        storage_name=stored.storage_name,
    )
    session.add(upload)
    session.flush()
    return upload


def discard(upload: Upload) -> None:
    """Remove the bytes of an upload whose row will not be committed."""
    storage.remove(storage.path_of(upload_dir(), upload.storage_name))


def file_path(upload: Upload) -> Path:
    """Where the bytes of ``upload`` are."""
    return storage.path_of(upload_dir(), upload.storage_name)


def is_public(*, session: DbSession, upload_id: uuid.UUID) -> bool:
    """Whether the upload, or the image it is the thumbnail of, is attached to a post."""
    thumbnail_of = sa.select(Upload.id).where(Upload.thumbnail_id == upload_id)
    attached = sa.exists().where(
        sa.or_(post_uploads.c.upload_id == upload_id, post_uploads.c.upload_id.in_(thumbnail_of))
    )
    return bool(session.scalar(sa.select(attached)))


def get_readable(
    *, session: DbSession, upload_id: uuid.UUID, user: Principal | None
) -> tuple[Upload, bool] | None:
    """The upload and whether it is public, if ``user`` (None: anyone) may read it."""
    upload = session.get(Upload, upload_id)
    if upload is None:
        return None
    public = is_public(session=session, upload_id=upload_id)
    allowed = user is not None and (upload.owner_id == user.id or user.has_role("admin"))
    return (upload, public) if public or allowed else None


def list_uploads(*, session: DbSession, owner: Principal, page: int, per_page: int) -> Page[Upload]:
    """The owner's files, newest first; thumbnails are left out (they belong to their image)."""
    original = so.aliased(Upload)
    is_thumbnail = sa.exists().where(original.thumbnail_id == Upload.id)
    condition = sa.and_(Upload.owner_id == owner.id, ~is_thumbnail)
    total = session.scalar(sa.select(sa.func.count()).select_from(Upload).where(condition)) or 0
    items = session.scalars(
        sa.select(Upload)
        .where(condition)
        .order_by(Upload.created_at.desc(), Upload.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def delete_owned(*, session: DbSession, owner_id: uuid.UUID) -> list[Path]:
    """Delete every upload row of ``owner_id``; return the files to remove once that commits."""
    names = session.scalars(sa.select(Upload.storage_name).where(Upload.owner_id == owner_id))
    paths = [storage.path_of(upload_dir(), name) for name in names]
    # Thumbnails point at their image's row; unlink them first so no backend trips over the order.
    session.execute(sa.update(Upload).where(Upload.owner_id == owner_id).values(thumbnail_id=None))
    session.execute(sa.delete(Upload).where(Upload.owner_id == owner_id))
    session.execute(
        sa.update(User)
        .where(User.id == owner_id)
        .values(upload_bytes=0)
        .execution_options(synchronize_session=False)
    )
    session.flush()
    return paths
