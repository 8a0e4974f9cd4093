"""Request schemas for account self-service."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Email, String
from apiflask.validators import Length

from flaskyard.users.models import EMAIL_MAX
from flaskyard.users.schemas import PASSWORD_MAX, password_field


def _current_password() -> String:
    return String(required=True, validate=Length(min=1, max=PASSWORD_MAX))


class PasswordChangeIn(Schema):
    """The current password and a new one (same rules as at sign-up)."""

    current_password = _current_password()
    new_password = password_field()
    cookie = Boolean(
        load_default=False,
        metadata={"description": "Put the new refresh token in the HttpOnly cookie, as at login."},
    )


class EmailChangeIn(Schema):
    """The account's password and the new address."""

    password = _current_password()
    email = Email(required=True, validate=Length(max=EMAIL_MAX))


class PasswordIn(Schema):
    """The account's password, to confirm a destructive step."""

    password = _current_password()
