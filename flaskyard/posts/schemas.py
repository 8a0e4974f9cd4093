"""Request and response schemas for posts."""

from __future__ import annotations

from typing import Any

from apiflask import Schema
from apiflask.fields import UUID, DateTime, Integer, List, Nested, String
from apiflask.validators import Length

from flaskyard.core.paging import Page
from flaskyard.posts.models import BODY_MAX, TITLE_MAX
from flaskyard.posts.services import PostRow
from flaskyard.uploads.schemas import UPLOADS_PATH, AttachmentOut
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


def page_json(page: Page[PostRow]) -> dict[str, Any]:
    """``PostPageOut().dump(page)``, written out: a page of 20 posts is 1,000 field dumps.

    The list is the hottest path of the API; marshmallow spent more time on it than the
    database did. tests/posts/test_routes.py checks that both give the same JSON.
    """
    return {
        "items": [
            {
                "id": str(post.id),
                "title": post.title,
                "body": post.body,
                "author": {"id": str(post.author.id), "username": post.author.username},
                "upload_ids": [str(upload.id) for upload in post.uploads],
                "attachments": [
                    {
                        "id": str(upload.id),
                        "filename": upload.filename,
                        "content_type": upload.content_type,
                        "size": upload.size,
                        "url": f"{UPLOADS_PATH}/{upload.id}",
                        "thumbnail_url": (
                            None
                            if upload.thumbnail_id is None
                            else f"{UPLOADS_PATH}/{upload.thumbnail_id}"
                        ),
                    }
                    for upload in post.uploads
                ],
                "created_at": post.created_at.isoformat(),
                "updated_at": post.updated_at.isoformat(),
            }
            for post in page.items
        ],
        "page": page.page,
        "per_page": page.per_page,
        "total": page.total,
    }


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
