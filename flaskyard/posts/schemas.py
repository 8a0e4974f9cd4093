"""Request and response schemas for posts."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, DateTime, Integer, List, Nested, String
from apiflask.validators import Length

from flaskyard.posts.models import BODY_MAX, TITLE_MAX
from flaskyard.uploads.schemas import AttachmentOut
from flaskyard.users.schemas import AuthorOut

MAX_ATTACHMENTS = 20


class PostOut(Schema):
    """A post as the API returns it."""

    id = UUID()
    title = String()
    body = String()
    author = Nested(AuthorOut)
    upload_ids = List(UUID())
    attachments = List(Nested(AttachmentOut), attribute="uploads")
    created_at = DateTime(format="iso")
    updated_at = DateTime(format="iso")


class PostItemOut(PostOut):
    """A post inside a page (its own name keeps APIFlask from registering PostOut twice)."""


class PostPageOut(Schema):
    """One page of posts."""

    items = List(Nested(PostItemOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class PostIn(Schema):
    """A new post."""

    title = String(
        required=True,
        validate=Length(min=1, max=TITLE_MAX, error=f"Title must be 1 to {TITLE_MAX} characters."),
    )
    body = String(
        required=True,
        validate=Length(max=BODY_MAX, error=f"Body must be at most {BODY_MAX} characters."),
    )
    upload_ids = List(UUID(), load_default=list, validate=Length(max=MAX_ATTACHMENTS))


class PostPatchIn(Schema):
    """Changes to a post; absent fields stay as they are."""

    title = String(
        validate=Length(min=1, max=TITLE_MAX, error=f"Title must be 1 to {TITLE_MAX} characters.")
    )
    body = String(
        validate=Length(max=BODY_MAX, error=f"Body must be at most {BODY_MAX} characters.")
    )
    upload_ids = List(UUID(), validate=Length(max=MAX_ATTACHMENTS))
