"""Request and response schemas for the auth endpoints."""

from __future__ import annotations

from apiflask import Schema
from apiflask.fields import Boolean, Email, Integer, String
from apiflask.validators import Length

from flaskyard.users.schemas import PASSWORD_MAX, password_field


class LoginIn(Schema):
    """Credentials; ``username`` may also be the email address."""

    username = String(required=True, validate=Length(min=1, max=254))
    password = String(required=True, validate=Length(min=1, max=PASSWORD_MAX))
    cookie = Boolean(
        load_default=False,
        metadata={
            "description": "Put the refresh token in an HttpOnly cookie instead of the body."
        },
    )


class TokenPairOut(Schema):
    """A new access token and (unless in cookie mode) refresh token."""

    access_token = String()
    refresh_token = String()
    token_type = String()
    expires_in = Integer()


class LogoutIn(Schema):
    """Optionally the refresh token to revoke along with the access token."""

    refresh_token = String(load_default=None)


class EmailIn(Schema):
    """An email address."""

    email = Email(required=True, validate=Length(max=254))


class ResetConfirmIn(Schema):
    """A reset token and the new password."""

    token = String(required=True, validate=Length(min=1, max=1000))
    password = password_field()


class TokenIn(Schema):
    """A single-use token from an email."""

    token = String(required=True, validate=Length(min=1, max=1000))
