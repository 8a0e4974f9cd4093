"""The Upload model: metadata of a stored file."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from flaskyard.database import Base, utcnow

#: Which uploads are attached to which posts. It lives with uploads because it decides who may
#: read a file (anyone, once it is attached to a post); the Post model maps it as its images.
post_uploads = sa.Table(
    "post_uploads",
    Base.metadata,
    sa.Column("post_id", sa.Uuid, sa.ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    sa.Column(
        "upload_id", sa.Uuid, sa.ForeignKey("uploads.id", ondelete="CASCADE"), primary_key=True
    ),
)


class Upload(Base):
    """A file a user stored; the bytes live in UPLOAD_DIR under ``storage_name``."""

    __tablename__ = "uploads"

    id: so.Mapped[uuid.UUID] = so.mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: so.Mapped[uuid.UUID] = so.mapped_column(
        sa.ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    #: The client's name, cleaned; metadata only, never a path.
    filename: so.Mapped[str] = so.mapped_column(sa.String(255))
    content_type: so.Mapped[str] = so.mapped_column(sa.String(100))
    size: so.Mapped[int] = so.mapped_column(sa.BigInteger)
    storage_name: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    thumbnail_id: so.Mapped[uuid.UUID | None] = so.mapped_column(
        sa.ForeignKey("uploads.id", ondelete="SET NULL"), default=None
    )
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)

    @property
    def is_image(self) -> bool:
        """Whether the stored content is one of the allowed image types."""
        return self.content_type.startswith("image/")
