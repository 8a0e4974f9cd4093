"""User and Role models."""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so

from flaskyard.database import Base, utcnow

USERNAME_MAX = 32
EMAIL_MAX = 254

user_roles = sa.Table(
    "user_roles",
    Base.metadata,
    sa.Column("user_id", sa.Uuid, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    sa.Column("role_id", sa.Uuid, sa.ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)


def normalize_key(value: str) -> str:
    """The form used for case-insensitive uniqueness of usernames and emails."""
    return value.strip().casefold()


class Role(Base):
    """A named role such as ``user`` or ``admin``."""

    __tablename__ = "roles"

    id: so.Mapped[uuid.UUID] = so.mapped_column(primary_key=True, default=uuid.uuid4)
    name: so.Mapped[str] = so.mapped_column(sa.String(32), unique=True)
    description: so.Mapped[str] = so.mapped_column(sa.String(200), default="")

    def __repr__(self) -> str:
        return f"<Role {self.name}>"


class User(Base):
    """A person who can sign in."""

    __tablename__ = "users"

    id: so.Mapped[uuid.UUID] = so.mapped_column(primary_key=True, default=uuid.uuid4)
    username: so.Mapped[str] = so.mapped_column(sa.String(USERNAME_MAX))
    username_key: so.Mapped[str] = so.mapped_column(sa.String(USERNAME_MAX), unique=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(EMAIL_MAX))
    email_key: so.Mapped[str] = so.mapped_column(sa.String(EMAIL_MAX), unique=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    active: so.Mapped[bool] = so.mapped_column(default=True)
    email_verified: so.Mapped[bool] = so.mapped_column(default=False)
    #: Bumped to sign the user out everywhere (password reset); tokens carry the value.
    token_version: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    #: Moved by every change of the user's roles: what was granted under the old roles (the
    #: job dashboard's session) ends with them, and a later promotion does not revive it.
    roles_version: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    #: Bytes of the user's stored files. Uploads change it only with a conditional UPDATE, so
    #: parallel uploads cannot pass the quota between reading it and writing it.
    upload_bytes: so.Mapped[int] = so.mapped_column(sa.BigInteger, default=0, server_default="0")
    created_at: so.Mapped[datetime] = so.mapped_column(default=utcnow)
    #: Loaded on first use: most queries that touch users (post authors) never need roles.
    roles: so.Mapped[list[Role]] = so.relationship(secondary=user_roles, lazy="select")

    def __init__(self, *, username: str, email: str, password_hash: str, **kwargs: object) -> None:
        super().__init__(password_hash=password_hash, **kwargs)
        self.set_username(username)
        self.set_email(email)

    def set_username(self, username: str) -> None:
        """Set the display name and its case-insensitive key together."""
        self.username = username.strip()
        self.username_key = normalize_key(username)

    def set_email(self, email: str) -> None:
        """Set the address and its case-insensitive key together."""
        self.email = email.strip()
        self.email_key = normalize_key(email)

    @property
    def role_names(self) -> list[str]:
        """The user's role names, sorted."""
        return sorted(role.name for role in self.roles)

    def has_role(self, name: str) -> bool:
        """Whether the user holds the role ``name``."""
        return any(role.name == name for role in self.roles)

    def __repr__(self) -> str:
        return f"<User {self.username}>"
