"""Revoked token ids and login families, for the ``database`` revocation store."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from flaskyard.database import Base


class RevokedToken(Base):
    """A revoked key (a token's ``jti`` or a login family) and when it stops mattering."""

    __tablename__ = "revoked_tokens"

    key: so.Mapped[str] = so.mapped_column(sa.String(80), primary_key=True)
    expires_at: so.Mapped[datetime] = so.mapped_column(index=True)
