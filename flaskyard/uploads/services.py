"""Upload rules: quota, ownership, recording stored files."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import IO

import sqlalchemy as sa

from flaskyard.core.auth import Principal
from flaskyard.database import DbSession
from flaskyard.settings import current_settings
from flaskyard.uploads import storage
from flaskyard.uploads.models import Upload


def upload_dir() -> Path:
    """The configured storage folder."""
    return current_settings().upload_dir


def used_bytes(*, session: DbSession, owner_id: uuid.UUID) -> int:
    """How many bytes ``owner_id`` has stored."""
    total = session.scalar(sa.select(sa.func.sum(Upload.size)).where(Upload.owner_id == owner_id))
    return int(total or 0)


def create_upload(
    *, session: DbSession, owner: Principal, stream: IO[bytes], filename: str | None
) -> Upload:
    """Check and store a file for ``owner``; the caller commits (or calls ``discard``)."""
    stored = store_checked(session=session, owner_id=owner.id, stream=stream, filename=filename)
    return record(session=session, owner_id=owner.id, stored=stored)


def store_checked(
    *, session: DbSession, owner_id: uuid.UUID, stream: IO[bytes], filename: str | None
) -> storage.StoredFile:
    """Check a file against the size limit and ``owner_id``'s quota, and move it into place."""
    settings = current_settings()
    return storage.store(
        stream,
        client_filename=filename,
        upload_dir=settings.upload_dir,
        max_bytes=settings.MAX_UPLOAD_BYTES,
        quota_left=settings.USER_UPLOAD_QUOTA_BYTES
        - used_bytes(session=session, owner_id=owner_id),
    )


def record(*, session: DbSession, owner_id: uuid.UUID, stored: storage.StoredFile) -> Upload:
    """Add the database row for a file already in place."""
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


def get_for(*, session: DbSession, upload_id: uuid.UUID, user: Principal) -> Upload | None:
    """The upload if ``user`` owns it or is an admin; None otherwise (so others see a 404)."""
    upload = session.get(Upload, upload_id)
    if upload is None or (upload.owner_id != user.id and not user.has_role("admin")):
        return None
    return upload
