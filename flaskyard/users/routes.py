"""HTTP routes for the signed-in user and for admins managing users."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint, abort

from flaskyard.core.auth import admin_required, auth_required, current_user
from flaskyard.extensions import db
from flaskyard.users import services
from flaskyard.users.schemas import UserOut, UserPageOut, UserPatchIn, UserQuery

bp = APIBlueprint("users", __name__, url_prefix="/api/v1/users", tag="Users")


@bp.get("/me")
@bp.output(UserOut)
@bp.doc(summary="The signed-in user", security="BearerAuth", responses=[401])
@auth_required()
def me() -> Any:
    """Who the token belongs to, with current roles."""
    return current_user()


@bp.get("")
@bp.input(UserQuery, location="query", arg_name="query")
@bp.output(UserPageOut)
@bp.doc(summary="List or search users (admins)", security="BearerAuth", responses=[401, 403, 422])
@admin_required
def list_users(query: dict[str, Any]) -> Any:
    """Every user (or those matching ``q``), oldest first, one page at a time."""
    return services.list_users(session=db.session, **query)


@bp.patch("/<uuid:user_id>")
@bp.input(UserPatchIn, arg_name="data")
@bp.output(UserOut)
@bp.doc(
    summary="Change a user's roles or active flag (admins)",
    security="BearerAuth",
    responses=[401, 403, 404, 409, 422],
)
@admin_required
def patch_user(user_id: uuid.UUID, data: dict[str, Any]) -> Any:
    """Takes effect on that user's next request."""
    user = services.get_user(session=db.session, user_id=user_id)
    if user is None:
        abort(404, detail="No user has that id.")
    try:
        services.update_user(session=db.session, user=user, **data)
    except services.LastAdminError as exc:
        db.session.rollback()
        abort(409, detail=str(exc))
    except services.UnknownRoleError as exc:
        db.session.rollback()
        abort(422, detail=exc.args[0])
    db.session.commit()
    return user
