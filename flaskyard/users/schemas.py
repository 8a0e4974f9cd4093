"""Request and response schemas for users, shared by the API and the CLI."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import UUID, Boolean, DateTime, Email, Integer, List, Nested, String
from apiflask.validators import Length, Regexp

from flaskyard.core.paging import PageQuery

USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{2,31}$"
PASSWORD_MIN = 8
PASSWORD_MAX = 128


def password_field() -> String:
    """A new password: 8 to 128 characters, kept exactly as sent."""
    return String(
        required=True,
        validate=Length(
            min=PASSWORD_MIN,
            max=PASSWORD_MAX,
            error=f"Password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters.",
        ),
    )


class UserCreateIn(Schema):
    """What registration and ``create-admin`` accept."""

    username = String(
        required=True,
        validate=Regexp(
            USERNAME_PATTERN,
            error="Username must be 3-32 characters of A-Z, a-z, 0-9, '_', '.', '-', "
            "starting with a letter or digit.",
        ),
    )
    email = Email(required=True, validate=Length(max=254))
    password = password_field()


class AuthorOut(Schema):
    """The public face of a user, as shown on posts and jobs."""

    # Always present, so the OpenAPI document says so and typed clients need no checks.
    id = UUID(required=True)
    username = String(required=True)


class UserOut(Schema):
    """A user as the user (or an admin) sees it."""

    id = UUID()
    username = String()
    email = String()
    roles = List(String(), attribute="role_names")
    active = Boolean()
    email_verified = Boolean()
    created_at = DateTime(format="iso")


class UserItemOut(UserOut):
    """A user inside a page (its own name keeps APIFlask from registering UserOut twice)."""


class UserPageOut(Schema):
    """One page of users."""

    items = List(Nested(UserItemOut))
    page = Integer()
    per_page = Integer()
    total = Integer()


class UserPatchIn(Schema):
    """What an admin may change on a user."""

    roles = List(String(validate=Length(min=1, max=32)), validate=Length(max=20))
    active = Boolean()


class UserQuery(PageQuery):
    """Paging plus an optional search in usernames and emails."""

    q = String(
        load_default=None,
        validate=Length(max=254),
        metadata={"description": "Keep users whose username or email contains this (any case)."},
    )
