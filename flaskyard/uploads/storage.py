"""Checking and storing upload bytes: size while streaming, type, content, quota — in that order."""

from __future__ import annotations

import codecs
import json
import os
import uuid
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import IO

import filetype
from werkzeug.utils import secure_filename

from flaskyard.core.problems import Message

CHUNK_BYTES = 64 * 1024
#: Allowed types by file extension; the content must match the same type.
ALLOWED_TYPES: dict[str, str] = {
    "png": "image/png",
    "jpg": "image/jpeg",
    "jpeg": "image/jpeg",
    "gif": "image/gif",
    "webp": "image/webp",
    "zip": "application/zip",
    "json": "application/json",
    "txt": "text/plain",
}
BINARY_TYPES = {"image/png", "image/jpeg", "image/gif", "image/webp", "application/zip"}
_MARKUP_PREFIXES = (b"<!doctype", b"<html", b"<script", b"<svg", b"<?xml", b"<body", b"<head")


class UploadRejected(Exception):
    """The upload broke a rule; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True)
class StoredFile:
    """A checked file sitting in its final place, not yet recorded in the database."""

    path: Path
    storage_name: str
    filename: str
    content_type: str
    size: int


#: The ``uploads.filename`` column's width.
FILENAME_MAX = 255


def clean_filename(name: str | None) -> str:
    """The client's name made safe to show: no directories, no control characters.

    ``secure_filename`` drops non-ASCII letters, which can swallow the whole stem
    (``写真.png`` → ``png``); the extension is then kept on a generic stem.
    """
    raw = (name or "").replace("\x00", "")
    cleaned = secure_filename(raw)
    stem, dot, extension = raw.rpartition(".")
    safe_extension = secure_filename(extension) if dot else ""
    if safe_extension and not cleaned.endswith(f".{safe_extension}"):
        cleaned = f"{secure_filename(stem) or 'upload'}.{safe_extension}"
    if len(cleaned) > FILENAME_MAX:
        # Cut the stem, not the end: the extension decides the type and how it opens.
        suffix = f".{safe_extension}"[: FILENAME_MAX // 2] if safe_extension else ""
        cleaned = cleaned[: FILENAME_MAX - len(suffix)].rstrip(".") + suffix
    return cleaned or "upload"


def allowed_type(filename: str) -> str:
    """The content type the name claims, or UploadRejected(415) when it is not allowed."""
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    content_type = ALLOWED_TYPES.get(extension)
    if content_type is None:
        allowed = ", ".join(sorted(ALLOWED_TYPES))
        raise UploadRejected(
            415,
            Message("Files of this type are not allowed; allowed: %(allowed)s.", allowed=allowed),
        )
    return content_type


def sniff_matches(path: Path, claimed: str) -> bool:
    """Whether the bytes at ``path`` really are ``claimed`` (magic bytes, or a parse for text)."""
    with path.open("rb") as handle:
        head = handle.read(8192)
    if claimed in BINARY_TYPES:
        kind = filetype.guess(head)
        return kind is not None and kind.mime == claimed
    if b"\x00" in head or filetype.guess(head) is not None:
        return False
    if _looks_like_markup(head):
        return False  # markup dressed up as text is refused, even though it is served as a download
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError:
        return False
    if claimed == "application/json":
        try:
            json.loads(text)
        except ValueError:
            return False
    return True


def over_quota(left: int) -> UploadRejected:
    """The refusal of a file that does not fit in the ``left`` bytes of its owner's quota."""
    return UploadRejected(
        413,
        Message(
            "This upload would exceed your storage quota (%(left)s bytes left).",
            left=max(left, 0),
        ),
    )


def _looks_like_markup(head: bytes) -> bool:
    text = head.removeprefix(codecs.BOM_UTF8).lstrip().lower()
    while text.startswith(b"<!--"):  # comments may hide what follows
        end = text.find(b"-->")
        if end < 0:
            return True
        text = text[end + 3 :].lstrip()
    return text.startswith(_MARKUP_PREFIXES)


def _stream_to(stream: IO[bytes], target: Path, limit: int) -> int:
    size = 0
    with target.open("xb") as out:
        while chunk := stream.read(CHUNK_BYTES):
            size += len(chunk)
            if size > limit:
                raise UploadRejected(
                    413,
                    Message("The file is larger than the limit of %(limit)s bytes.", limit=limit),
                )
            out.write(chunk)
    return size


def store(
    stream: IO[bytes],
    *,
    client_filename: str | None,
    upload_dir: Path,
    max_bytes: int,
    quota_left: int,
) -> StoredFile:
    """Run every check and move the file into place; on any failure nothing is left behind."""
    filename = clean_filename(client_filename)
    content_type = allowed_type(filename)
    incoming = upload_dir / ".incoming"
    incoming.mkdir(parents=True, exist_ok=True)
    storage_name = uuid.uuid4().hex
    partial = incoming / storage_name
    try:
        size = _stream_to(stream, partial, max_bytes)
        if not sniff_matches(partial, content_type):
            raise UploadRejected(
                415, Message("The content is not a valid %(type)s file.", type=content_type)
            )
        if size > quota_left:
            raise over_quota(quota_left)
        final = upload_dir / storage_name[:2] / storage_name
        final.parent.mkdir(parents=True, exist_ok=True)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return StoredFile(final, storage_name, filename, content_type, size)


def path_of(upload_dir: Path, storage_name: str) -> Path:
    """Where the bytes of ``storage_name`` live."""
    return upload_dir / storage_name[:2] / storage_name


def store_bytes(data: bytes, *, filename: str, upload_dir: Path) -> StoredFile:
    """Store bytes the server made itself (exports, thumbnails)."""
    return store(
        BytesIO(data),
        client_filename=filename,
        upload_dir=upload_dir,
        max_bytes=max(len(data), 1),
        quota_left=len(data),
    )


def remove(path: Path) -> None:
    """Delete a stored file if it is there."""
    path.unlink(missing_ok=True)
