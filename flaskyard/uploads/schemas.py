"""Schemas for uploads."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import UUID, DateTime, File, Integer, List, Nested, String

#: Where uploads are served; a file's URL is this plus its id.
UPLOADS_PATH = "/api/v1/uploads"


class UploadPath(String):
    """The download path of the upload whose id the attribute holds (null for no id)."""

    def __init__(self, **kwargs: Any) -> None:
        # Output only: as an input it would claim the same attribute as the ``id`` field.
        kwargs.setdefault("dump_only", True)
        super().__init__(**kwargs)

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else f"{UPLOADS_PATH}/{value}"


class UploadIn(Schema):
    """A multipart upload with one file in the field ``file``."""

    file = File(  # type: ignore[no-untyped-call]
        required=True, metadata={"description": "png, jpeg, gif, webp, zip, json or txt"}
    )


class UploadOut(Schema):
    """What the API says about a stored file."""

    id = UUID()
    filename = String()
    content_type = String()
    size = Integer()
    url = UploadPath(attribute="id")
    thumbnail_id = UUID(allow_none=True)
    created_at = DateTime(format="iso")


class UploadItemOut(UploadOut):
    """An upload inside a page (its own name keeps APIFlask from registering UploadOut twice)."""


class UploadPageOut(Schema):
    """One page of the caller's uploads."""

    items = List(Nested(UploadItemOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class AttachmentOut(Schema):
    """A file attached to a post; both URLs answer without a token while it stays attached."""

    id = UUID()
    filename = String()
    content_type = String()
    size = Integer()
    url = UploadPath(attribute="id")
    thumbnail_url = UploadPath(
        attribute="thumbnail_id",
        allow_none=True,
        metadata={"description": "A small PNG preview of an image; null until it is made."},
    )
