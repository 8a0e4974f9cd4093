"""The Post model."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import mysql

from flaskyard.database import Base, utcnow
from flaskyard.uploads.models import Upload, post_uploads
from flaskyard.users.models import User

TITLE_MAX = 200
BODY_MAX = 100_000

__all__ = ["BODY_MAX", "TITLE_MAX", "Post", "post_uploads"]


class Post(Base):
    """A titled text written by one user."""

    __tablename__ = "posts"
    __table_args__ = (
        sa.Index("ix_posts_created_at_id", "created_at", "id"),
        sa.UniqueConstraint("author_id", "source", name="uq_posts_author_id_source"),
    )

    id: so.Mapped[uuid.UUID] = so.mapped_column(primary_key=True, default=uuid.uuid4)
    author_id: so.Mapped[uuid.UUID] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    title: so.Mapped[str] = so.mapped_column(sa.String(TITLE_MAX))
    body: so.Mapped[str] = so.mapped_column(
        sa.Text().with_variant(mysql.MEDIUMTEXT(), "mysql", "mariadb")
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(default=utcnow, onupdate=utcnow)
    #: What an imported post was in the file it came from (``post:<id>`` of the exported post,
    #: or ``sha256:<content>``), unique per author, so importing it again skips it.
    source: so.Mapped[str | None] = so.mapped_column(sa.String(80), default=None)
    author: so.Mapped[User] = so.relationship(lazy="joined", innerjoin=True)
    #: Oldest upload first, in one defined order the posts list (Core, posts/services.py) shares.
    uploads: so.Mapped[list[Upload]] = so.relationship(
        secondary=post_uploads, lazy="selectin", order_by=(Upload.created_at, Upload.id)
    )

    @property
    def upload_ids(self) -> list[uuid.UUID]:
        """The ids of the files attached to this post."""
        return [upload.id for upload in self.uploads]

    def __repr__(self) -> str:
        return f"<Post {self.title!r}>"
