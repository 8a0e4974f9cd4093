"""Account rules: sign-in, email verification and password reset."""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from flask import current_app, has_request_context, request
from itsdangerous import BadSignature, SignatureExpired

from flaskyard.auth import mails
from flaskyard.database import DbSession
from flaskyard.users.models import User, normalize_key
from flaskyard.users.passwords import EXTENSION_KEY as HASHER_KEY
from flaskyard.users.passwords import hash_password, verify_password
from flaskyard.users.schemas import PASSWORD_MAX, PASSWORD_MIN
from flaskyard.users.services import SignInRecord, find_sign_in, find_user

RESET_MAX_AGE = 3600
VERIFY_MAX_AGE = 48 * 3600
_dummy_hashes: dict[str, str] = {}


class InvalidTokenError(ValueError):
    """A reset or verification token is bad, expired, or already used."""


def _dummy_hash() -> str:
    # Unknown users still cost one hash verification, so timing does not reveal them.
    key = str(id(current_app.extensions[HASHER_KEY]))
    if key not in _dummy_hashes:
        _dummy_hashes[key] = hash_password(uuid.uuid4().hex)
    return _dummy_hashes[key]


_LOOKUPS = "flaskyard_login_lookups"


def login_user(*, engine: sa.Engine, login: str) -> SignInRecord | None:
    """The account a sign-in names, looked up once per request.

    The per-account rate limit keys on it (when checking, and again when counting a failure)
    and so does :func:`authenticate`: one query serves all three.
    """
    if not has_request_context():
        return find_sign_in(engine=engine, login=login)
    # Kept with the request itself: ``g`` belongs to the app context, which a caller may
    # hold open across several requests (a CLI command, a test), and a record is a snapshot.
    lookups: dict[str, SignInRecord | None] = request.environ.setdefault(_LOOKUPS, {})
    key = normalize_key(login)
    if key not in lookups:
        lookups[key] = find_sign_in(engine=engine, login=login)
    return lookups[key]


def authenticate(
    *, session: DbSession, engine: sa.Engine, login: str, password: str
) -> SignInRecord | None:
    """The active account with this username/email and password, or None (same cost either way).

    A plain sign-in only reads. When the stored hash used older parameters, the new hash is
    set on the model in ``session`` (the caller commits).
    """
    account = login_user(engine=engine, login=login)
    if account is None:
        verify_password(_dummy_hash(), password)
        return None
    ok, new_hash = verify_password(account.password_hash, password)
    if not ok or not account.active:
        return None
    if new_hash is not None:
        user = session.get(User, account.id)
        if user is not None:
            user.password_hash = new_hash
    return account


def send_verification(user: User) -> None:
    """Mail ``user`` a link that confirms their address (valid 48 hours, once)."""
    mails.queue(mails.VERIFY, user)


def send_password_reset(*, session: DbSession, email: str) -> None:
    """Mail a reset link when ``email`` belongs to an active user; silent otherwise."""
    user = find_user(session=session, login=email)
    if user is None or not user.active or user.email_key != email.strip().casefold():
        return
    mails.queue(mails.RESET, user)


def _load(
    purpose: str, token: str, max_age: int, session: DbSession
) -> tuple[User, dict[str, Any]]:
    try:
        data = mails.serializer(purpose).loads(token, max_age=max_age)
    except SignatureExpired as exc:
        raise InvalidTokenError("The token has expired; ask for a new one.") from exc
    except BadSignature as exc:
        raise InvalidTokenError("The token is not valid.") from exc
    try:
        user = session.get(User, uuid.UUID(str(data["uid"])))
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidTokenError("The token is not valid.") from exc
    if user is None or not user.active:
        raise InvalidTokenError("The token is not valid.")
    return user, data


def confirm_password_reset(*, session: DbSession, token: str, password: str) -> User:
    """Set a new password from a reset token and sign the user out everywhere."""
    if not PASSWORD_MIN <= len(password) <= PASSWORD_MAX:
        raise ValueError(f"Password must be {PASSWORD_MIN} to {PASSWORD_MAX} characters.")
    user, data = _load("reset", token, RESET_MAX_AGE, session)
    if data.get("fp") != mails.fingerprint(user.password_hash):
        raise InvalidTokenError("The token has already been used.")
    user.password_hash = hash_password(password)
    user.token_version += 1
    return user


def confirm_email(*, session: DbSession, token: str) -> User:
    """Mark the address verified, or switch to the new address a change token names."""
    user, data = _load("verify", token, VERIFY_MAX_AGE, session)
    new_email = data.get("email")
    if new_email is not None:
        return _confirm_new_email(session, user, new_email, data.get("fp"))
    if data.get("fp") != mails.fingerprint(user.email_key, str(user.email_verified)):
        raise InvalidTokenError("The token has already been used.")
    user.email_verified = True
    return user


def send_email_change(user: User, new_email: str) -> None:
    """Mail ``new_email`` a link that makes it ``user``'s address (valid 48 hours, once)."""
    mails.queue(mails.EMAIL_CHANGE, user, new_email)


def _confirm_new_email(session: DbSession, user: User, new_email: Any, fp: Any) -> User:
    if not isinstance(new_email, str) or fp != mails.fingerprint(
        user.email_key, normalize_key(new_email)
    ):
        raise InvalidTokenError("The token has already been used.")
    taken = session.scalar(
        sa.select(User.id).where(User.email_key == normalize_key(new_email), User.id != user.id)
    )
    if taken is not None:
        raise InvalidTokenError("That email address now belongs to another account.")
    user.set_email(new_email)
    user.email_verified = True
    try:
        session.flush()
    except sa.exc.IntegrityError as exc:  # taken between the check and the write
        raise InvalidTokenError("That email address now belongs to another account.") from exc
    return user
