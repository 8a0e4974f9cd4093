"""Who is calling: decorators for a signed-in (and verified) user or an admin, and that user.

The auth domain issues and checks the tokens and loads the user behind them (its
``init_app`` registers the loader); the other domains only need these three names.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from functools import wraps
from typing import ParamSpec, Protocol, TypeVar

from apiflask import abort
from flask_babel import gettext as _
from flask_jwt_extended import current_user as _jwt_current_user
from flask_jwt_extended import jwt_required

from flaskyard.settings import current_settings

P = ParamSpec("P")
R = TypeVar("R")
EMAIL_NOT_VERIFIED_TYPE = "/problems/email-not-verified"


class Principal(Protocol):
    """What the shared layer knows of a signed-in user (the users domain's ``User``)."""

    @property
    def id(self) -> uuid.UUID:
        """The user's id."""

    @property
    def username(self) -> str:
        """The display name."""

    @property
    def active(self) -> bool:
        """Whether the account may sign in."""

    @property
    def token_version(self) -> int:
        """Bumped to sign the user out everywhere."""

    @property
    def roles_version(self) -> int:
        """Bumped whenever the user's roles change."""

    @property
    def email_verified(self) -> bool:
        """Whether the user confirmed their email address."""

    def has_role(self, name: str) -> bool:
        """Whether the user holds the role ``name``."""


def current_user() -> Principal:
    """The signed-in user of this request (after ``auth_required``)."""
    user: Principal = _jwt_current_user._get_current_object()
    return user


def auth_required(
    *, refresh: bool = False, optional: bool = False
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Require a valid, unrevoked token of an active user (Authorization header only)."""
    locations = ["headers", "cookies"] if refresh else ["headers"]
    decorator: Callable[[Callable[P, R]], Callable[P, R]] = jwt_required(
        refresh=refresh, optional=optional, locations=locations
    )
    return decorator


def admin_required(view: Callable[P, R]) -> Callable[P, R]:
    """Require a signed-in user who holds ``admin`` right now (not just in an old token)."""

    @wraps(view)
    @auth_required()
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if not current_user().has_role("admin"):
            abort(403, detail="This needs the admin role.")
        return view(*args, **kwargs)

    return wrapper


def verified_required(view: Callable[P, R]) -> Callable[P, R]:
    """With ``REQUIRE_VERIFIED_EMAIL`` on, refuse an unverified user (below ``auth_required``).

    Unverified accounts still sign in, read, and ask for a new verification mail; the routes
    that create something (posts, uploads, jobs) carry this decorator.
    """

    @wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if current_settings().require_verified_email and not current_user().email_verified:
            abort(
                403,
                detail=_(
                    "Confirm your email address first: follow the link in the mail we sent you, "
                    "or ask for a new one (POST /api/v1/auth/verify-email)."
                ),
                # The problem body takes these over its defaults, so clients can tell this
                # refusal from a missing role.
                extra_data={"type": EMAIL_NOT_VERIFIED_TYPE, "title": _("Email not verified")},
            )
        return view(*args, **kwargs)

    return wrapper
