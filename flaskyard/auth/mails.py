"""The account mails (address confirmation, password reset, address change), made in the worker.

The web process queues only who the mail is for and why: a user id, a purpose, the language
and, for an address change, the new address. The job loads the user, signs the token and
writes the message, so neither the token nor a link carrying it is ever in Redis job data,
and the message text is never logged (``flaskyard.mail.deliver`` logs recipient and subject).
"""

from __future__ import annotations

import hashlib
import logging
import uuid

from flask import current_app
from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from itsdangerous import URLSafeTimedSerializer

from flaskyard.extensions import db
from flaskyard.mail import deliver, enqueue_mail
from flaskyard.settings import current_settings
from flaskyard.users.models import User, normalize_key

log = logging.getLogger(__name__)
VERIFY, RESET, EMAIL_CHANGE = "verify", "reset", "email-change"
PURPOSES = (VERIFY, RESET, EMAIL_CHANGE)


def serializer(purpose: str) -> URLSafeTimedSerializer:
    """Signs and checks the tokens of ``purpose`` (``verify`` or ``reset``)."""
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=f"flaskyard.{purpose}")


def fingerprint(*parts: str) -> str:
    """Binds a token to the state it changes, so it stops working once used."""
    return hashlib.sha256("\x00".join(parts).encode()).hexdigest()[:32]


def verification_token(user: User) -> str:
    """A token that confirms ``user``'s current address."""
    return str(
        serializer(VERIFY).dumps(
            {"uid": str(user.id), "fp": fingerprint(user.email_key, str(user.email_verified))}
        )
    )


def reset_token(user: User) -> str:
    """A token that sets a new password for ``user``, once."""
    return str(
        serializer(RESET).dumps({"uid": str(user.id), "fp": fingerprint(user.password_hash)})
    )


def email_change_token(user: User, new_email: str) -> str:
    """A token that makes ``new_email`` the address of ``user``."""
    return str(
        serializer(VERIFY).dumps(
            {
                "uid": str(user.id),
                "email": new_email,
                "fp": fingerprint(user.email_key, normalize_key(new_email)),
            }
        )
    )


def queue(purpose: str, user: User, new_email: str | None = None) -> None:
    """Queue the ``purpose`` mail for ``user`` in the language of the current request."""
    if purpose not in PURPOSES:
        raise ValueError(f"Unknown account mail {purpose!r}.")
    locale = str(get_locale() or "en")
    enqueue_mail(
        send_account_mail,
        purpose,
        str(user.id),
        locale,
        new_email,
        description=f"account mail: {purpose}",
    )


def send_account_mail(
    purpose: str, user_id: str, locale: str, new_email: str | None = None
) -> None:
    """The queued job: load the user, make the token and the message, deliver it."""
    user = db.session.get(User, uuid.UUID(user_id))
    if user is None or not user.active:
        log.info("account mail %s not sent: the account is gone or inactive", purpose)
        return
    with force_locale(locale):
        to, subject, body = _compose(purpose, user, new_email)
    deliver(to, subject, body)


def _link(path: str, token: str) -> str:
    base = current_settings().PUBLIC_URL.rstrip("/")
    return f"{base}{path}?token={token}"


def _compose(purpose: str, user: User, new_email: str | None) -> tuple[str, str, str]:
    if purpose == RESET:
        token = reset_token(user)
        return (
            user.email,
            _("Reset your password"),
            _(
                "Hello %(name)s,\n\nSet a new password with this link (valid 1 hour, once):\n"
                "%(link)s\n\nOr send the token with your new password to "
                "POST /api/v1/auth/password-reset/confirm:\n%(token)s\n\n"
                "If you did not ask for this, ignore this message.",
                name=user.username,
                link=_link("/reset-password", token),
                token=token,
            ),
        )
    if purpose == EMAIL_CHANGE and new_email:
        token = email_change_token(user, new_email)
        return (
            new_email,
            _("Confirm your new email address"),
            _(
                "Hello %(name)s,\n\nMake this your account's address with this link "
                "(valid 48 hours):\n%(link)s\n\nOr send the token to "
                "POST /api/v1/auth/verify-email/confirm:\n%(token)s\n\n"
                "Until then your account keeps its current address.",
                name=user.username,
                link=_link("/verify-email", token),
                token=token,
            ),
        )
    if purpose == VERIFY:
        token = verification_token(user)
        return (
            user.email,
            _("Confirm your email address"),
            _(
                "Hello %(name)s,\n\nConfirm your address with this link (valid 48 hours):\n"
                "%(link)s\n\nOr send the token to POST /api/v1/auth/verify-email/confirm:\n"
                "%(token)s\n",
                name=user.username,
                link=_link("/verify-email", token),
                token=token,
            ),
        )
    raise ValueError(f"The account mail {purpose!r} cannot be made.")
