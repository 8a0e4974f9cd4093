"""HTTP routes for the signed-in user's own account."""

from __future__ import annotations

from typing import Any

from apiflask import APIBlueprint, abort
from flask import Response, make_response
from flask_babel import gettext as _
from flask_jwt_extended import unset_jwt_cookies

from flaskyard.account import services
from flaskyard.account.schemas import EmailChangeIn, PasswordChangeIn, PasswordIn
from flaskyard.auth import tokens
from flaskyard.auth.schemas import TokenPairOut
from flaskyard.auth.throttle import account_limit, limiter
from flaskyard.core.auth import auth_required, current_user
from flaskyard.core.problems import field_errors, problem
from flaskyard.extensions import db
from flaskyard.settings import current_settings
from flaskyard.users.models import User
from flaskyard.users.passwords import BUSY_ANSWER
from flaskyard.users.services import LastAdminError

bp = APIBlueprint("account", __name__, url_prefix="/api/v1", tag="Account")
WRONG_PASSWORD_TYPE = "/problems/wrong-password"  # noqa: S105 - a problem type URI


def _password_check_key() -> str:
    # Per account, so a stolen access token cannot be used to guess the password quickly.
    prefix = current_settings().RATELIMIT_KEY_PREFIX
    return f"{prefix}:password-check:{current_user().id}"


def _wrong_password_answered(response: Response) -> bool:
    return response.status_code == 400


#: Failed password checks on any account endpoint count against one limit per account.
password_checks = limiter.shared_limit(
    account_limit,
    scope="password-check",
    key_func=_password_check_key,
    deduct_when=_wrong_password_answered,
    error_message="Too many wrong passwords for this account; wait and try again.",
)


def _wrong_password(exc: services.WrongPasswordError) -> Response:
    db.session.rollback()
    message = _("The password is wrong.")
    return problem(
        400,
        message,
        title=_("Wrong password"),
        type_=WRONG_PASSWORD_TYPE,
        errors=[{"in": "json", "field": exc.field_name, "message": message}],
    )


def _me() -> User:
    # The model behind the token's user, read in this request's session: the account rules
    # change its password, address and token version (the signed-in user is only a snapshot).
    user = db.session.get(User, current_user().id)
    if user is None:  # deleted since the token check, a moment ago
        abort(401, detail="The account is inactive, gone, or signed out everywhere.")
    return user


def _signed_out(status: int) -> Response:
    response = make_response("", status)
    unset_jwt_cookies(response)
    return response


@bp.post("/auth/logout-all")
@bp.doc(
    summary="Sign out on every device",
    description="Every access and refresh token of this account stops working, everywhere.",
    security="BearerAuth",
    responses=[204, 401],
    tags=["Auth"],
)
@auth_required()
def logout_all() -> Any:
    """Revoke every token of the signed-in user."""
    services.sign_out_everywhere(session=db.session, user=_me())
    db.session.commit()
    return _signed_out(204)


@bp.post("/users/me/password")
@bp.input(PasswordChangeIn, arg_name="data")
@bp.output(TokenPairOut)
@bp.doc(
    summary="Change my password",
    description="Answers with a new token pair for this device (the refresh token in the "
    "cookie when `cookie` is true); every other login is signed out. A wrong "
    "`current_password` is a 400 with a field error on `current_password`.",
    security="BearerAuth",
    responses={400: "", 401: "", 422: "", 429: "", 503: BUSY_ANSWER},
)
@auth_required()
@password_checks
def change_password(data: dict[str, Any]) -> Any:
    """Set a new password and sign out every other login."""
    user = _me()
    try:
        services.change_password(
            session=db.session,
            user=user,
            current_password=data["current_password"],
            new_password=data["new_password"],
        )
    except services.WrongPasswordError as exc:
        return _wrong_password(exc)
    db.session.commit()
    return tokens.pair_response(tokens.issue_pair(user), cookie=data["cookie"])


@bp.post("/users/me/email")
@bp.input(EmailChangeIn, arg_name="data")
@bp.doc(
    summary="Change my email address",
    description="Mails a link to the new address; the address changes only once that link's "
    "token is confirmed at POST /api/v1/auth/verify-email/confirm.",
    security="BearerAuth",
    responses={202: "A confirmation mail is on its way to the new address", 400: "", 401: ""}
    | {409: "", 422: "", 429: "", 503: BUSY_ANSWER},
)
@auth_required()
@password_checks
def change_email(data: dict[str, str]) -> Any:
    """Start changing the address: mail the new one a confirmation link."""
    try:
        services.request_email_change(session=db.session, user=_me(), **data)
    except services.WrongPasswordError as exc:
        return _wrong_password(exc)
    except services.EmailTakenError:
        db.session.rollback()
        taken = "That email is already taken."
        abort(409, detail=_(taken), extra_data=field_errors("email", taken))
    except services.SameEmailError:
        db.session.rollback()
        abort(409, detail=_("That is already your email address."))
    db.session.commit()
    return {"status": "accepted"}, 202


@bp.delete("/users/me")
@bp.input(PasswordIn, arg_name="data")
@bp.doc(
    summary="Delete my account",
    description="Deletes the account with its posts, uploads (files included) and jobs "
    "(running ones are asked to stop); every token of the account stops working. The last "
    "active admin cannot delete themselves (409).",
    security="BearerAuth",
    responses={204: "No Content", 400: "", 401: "", 409: "", 422: "", 429: "", 503: BUSY_ANSWER},
)
@auth_required()
@password_checks
def delete_account(data: dict[str, str]) -> Any:
    """Delete the signed-in user and everything they own."""
    try:
        leftovers = services.delete_account(
            session=db.session, user=_me(), password=data["password"]
        )
    except services.WrongPasswordError as exc:
        return _wrong_password(exc)
    except LastAdminError:
        db.session.rollback()
        abort(409, detail=_("At least one active admin must remain."))
    db.session.commit()
    services.tidy_up(leftovers)
    return _signed_out(204)
