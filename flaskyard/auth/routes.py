"""HTTP routes for sign-up, sign-in, token refresh, sign-out, password reset and verification."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, abort
from flask import make_response
from flask_babel import lazy_gettext as _l
from flask_jwt_extended import (
    get_jwt,
    get_jwt_request_location,
    unset_jwt_cookies,
)

from flaskyard.auth import services, tokens
from flaskyard.auth.schemas import EmailIn, LoginIn, LogoutIn, ResetConfirmIn, TokenIn, TokenPairOut
from flaskyard.auth.throttle import account_key, account_limit, failed_login, ip_limit, limiter
from flaskyard.core.auth import auth_required, current_user
from flaskyard.core.problems import field_errors
from flaskyard.extensions import db
from flaskyard.users.models import User
from flaskyard.users.passwords import BUSY_ANSWER, sign_in_gate
from flaskyard.users.schemas import UserCreateIn, UserOut
from flaskyard.users.services import UserExistsError, create_user

bp = APIBlueprint("auth", __name__, url_prefix="/api/v1/auth", tag="Auth")
INVALID_LOGIN = _l("The username or password is wrong, or the account is inactive.")


@bp.post("/register")
@bp.input(UserCreateIn, arg_name="data")
@bp.output(UserOut, status_code=201)
@bp.doc(summary="Create an account", responses={409: "", 422: "", 429: "", 503: BUSY_ANSWER})
@limiter.limit(ip_limit)
def register(data: dict[str, str]) -> Any:
    """Create a user with the ``user`` role and mail a verification link."""
    try:
        user = create_user(
            session=db.session,
            username=data["username"],
            email=data["email"],
            password=data["password"],
        )
    except UserExistsError as exc:
        db.session.rollback()
        abort(409, detail=str(exc), extra_data=field_errors(exc.field, str(exc)))
    db.session.commit()
    services.send_verification(user)
    return user


@bp.post("/login")
@bp.input(LoginIn, arg_name="data")
@bp.output(TokenPairOut)
@bp.doc(
    summary="Sign in with username (or email) and password",
    responses={401: "", 429: "", 503: BUSY_ANSWER},
)
@sign_in_gate
@limiter.limit(ip_limit, error_message="Too many requests from this address; wait and try again.")
@limiter.limit(
    account_limit,
    key_func=account_key,
    deduct_when=failed_login,
    error_message="Too many failed sign-ins for this account; wait and try again.",
)
def login(data: dict[str, Any]) -> Any:
    """A new access and refresh token; 401 looks the same for unknown users and bad passwords."""
    account = services.authenticate(
        session=db.session, engine=db.engine, login=data["username"], password=data["password"]
    )
    if account is None:
        abort(401, detail=str(INVALID_LOGIN))
    if db.session.dirty:
        db.session.commit()  # a rehashed password; a plain sign-in writes nothing
    return tokens.pair_response(tokens.issue_pair(account), cookie=data["cookie"])


@bp.post("/refresh")
@bp.output(TokenPairOut)
@bp.doc(
    summary="Trade a refresh token for a new pair (the old one dies)",
    security="BearerAuth",
    responses=[401],
)
@auth_required(refresh=True)
def refresh() -> Any:
    """Rotate: a used refresh token presented again revokes every token of that login."""
    pair = tokens.rotate(get_jwt(), current_user())
    if pair is None:
        abort(
            401, detail="This refresh token was already used; every token of this login is revoked."
        )
    return tokens.pair_response(pair, cookie=get_jwt_request_location() == "cookies")


@bp.post("/logout")
@bp.input(LogoutIn, arg_name="data")
@bp.doc(summary="Sign out this login", security="BearerAuth", responses=[204, 401])
@auth_required()
def logout(data: dict[str, Any]) -> Any:
    """Revoke the access token and every refresh token of the same login, on every worker."""
    tokens.revoke_family(get_jwt())
    if data.get("refresh_token"):
        tokens.revoke_token(data["refresh_token"], expected_identity=str(current_user().id))
    response = make_response("", 204)
    unset_jwt_cookies(response)
    return response


@bp.post("/password-reset")
@bp.input(EmailIn, arg_name="data")
@bp.doc(summary="Mail a password reset link", responses=[202, 422, 429])
@limiter.limit(ip_limit)
@limiter.limit("5 per hour", key_func=account_key)
def password_reset(data: dict[str, str]) -> Any:
    """Always 202, whether or not the address belongs to anyone."""
    services.send_password_reset(session=db.session, email=data["email"])
    return {"status": "accepted"}, 202


@bp.post("/password-reset/confirm")
@bp.input(ResetConfirmIn, arg_name="data")
@bp.doc(
    summary="Set a new password with a reset token",
    responses={204: "No Content", 400: "", 503: BUSY_ANSWER},
)
def password_reset_confirm(data: dict[str, str]) -> Any:
    """Set the password and sign the user out of every session."""
    try:
        services.confirm_password_reset(session=db.session, **data)
    except services.InvalidTokenError as exc:
        db.session.rollback()
        abort(400, detail=str(exc))
    db.session.commit()
    return "", 204


@bp.post("/verify-email")
@bp.doc(summary="Mail a new verification link", security="BearerAuth", responses=[202, 401, 429])
@auth_required()
@limiter.limit("5 per hour", key_func=lambda: f"{account_key()}:verify:{current_user().id}")
def verify_email_resend() -> Any:
    """Send the verification mail again (no-op when already verified)."""
    # The model, not the request's snapshot of it: the mail's token fingerprints its state.
    user = db.session.get(User, current_user().id)
    if user is not None and not user.email_verified:
        services.send_verification(user)
    return {"status": "accepted"}, 202


@bp.post("/verify-email/confirm")
@bp.input(TokenIn, arg_name="data")
@bp.doc(summary="Confirm an email address", responses=[204, 400])
def verify_email_confirm(data: dict[str, str]) -> Any:
    """Mark the address verified."""
    try:
        services.confirm_email(session=db.session, token=data["token"])
    except services.InvalidTokenError as exc:
        db.session.rollback()
        abort(400, detail=str(exc))
    db.session.commit()
    return "", 204
