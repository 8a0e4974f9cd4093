"""Users and posts made through the real services, so tests start from rows the app would write;
and images made with Pillow, for uploads."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from typing import Protocol

from PIL import Image

from flaskyard.database import DbSession
from flaskyard.posts.models import Post
from flaskyard.posts.services import create_post
from flaskyard.users.models import User
from flaskyard.users.services import create_user
from tests.support.api import PASSWORD


def make_user(
    session: DbSession,
    username: str = "alice",
    *,
    password: str = PASSWORD,
    email: str | None = None,
    roles: Iterable[str] = ("user",),
    email_verified: bool = False,
) -> User:
    """Add a user (real password hash, real roles) with ``<username>@example.com``; flushed."""
    return create_user(
        session=session,
        username=username,
        email=email if email is not None else f"{username}@example.com",
        password=password,
        roles=roles,
        email_verified=email_verified,
    )


def make_post(
    session: DbSession,
    author: User,
    *,
    title: str = "Hello",
    body: str = "First post",
    created_at: datetime | None = None,
) -> Post:
    """Add a post by ``author``; ``created_at`` backdates it (the service stamps it now)."""
    post = create_post(session=session, author=author, title=title, body=body)
    if created_at is not None:
        post.created_at = created_at
        session.flush()
    return post


class UserFactory(Protocol):
    """The ``make_user`` fixture: ``make_user("ada", roles=("user", "admin"))``, committed."""

    def __call__(
        self,
        username: str = "alice",
        *,
        password: str = PASSWORD,
        email: str | None = None,
        roles: Iterable[str] = ("user",),
        email_verified: bool = False,
    ) -> User: ...


def image_bytes(
    fmt: str = "PNG",
    size: tuple[int, int] = (40, 30),
    color: tuple[int, int, int] = (10, 120, 200),
) -> bytes:
    """A one-colour image of ``size`` in format ``fmt``, as a file would hold it."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    return buffer.getvalue()
