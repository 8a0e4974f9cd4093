"""Schemas for uploads."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, File, Integer, String


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
    url = String()
    thumbnail_id = UUID(allow_none=True)
