"""The Job row: who asked for what, and how it ended, even if Redis forgets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so

from flaskyard.database import Base, utcnow
from flaskyard.users.models import User

STATUSES = ("queued", "started", "finished", "failed", "canceled")
TERMINAL = frozenset({"finished", "failed", "canceled"})


class Job(Base):
    """A background job requested by a user; its id is also the RQ job id."""

    __tablename__ = "jobs"
    __table_args__ = (sa.Index("ix_jobs_owner_created", "owner_id", "created_at"),)

    id: so.Mapped[uuid.UUID] = so.mapped_column(primary_key=True, default=uuid.uuid4)
    owner_id: so.Mapped[uuid.UUID] = so.mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"))
    type: so.Mapped[str] = so.mapped_column(sa.String(32))
    params: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    status: so.Mapped[str] = so.mapped_column(sa.String(16), default="queued")
    progress: so.Mapped[int] = so.mapped_column(default=0)
    message: so.Mapped[str] = so.mapped_column(sa.String(500), default="")
    result: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON, default=None)
    error: so.Mapped[str | None] = so.mapped_column(sa.String(2000), default=None)
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    started_at: so.Mapped[datetime | None] = so.mapped_column(default=None)
    ended_at: so.Mapped[datetime | None] = so.mapped_column(default=None)
    #: Loaded with the row: every job the API shows names its owner.
    owner: so.Mapped[User] = so.relationship(lazy="joined", innerjoin=True)

    @property
    def ended(self) -> bool:
        """Whether the job reached a final status."""
        return self.status in TERMINAL
