"""HTTP routes for posts."""

from __future__ import annotations

import uuid
from typing import Any

from apiflask import APIBlueprint, abort
from flask import Response, json, url_for

from flaskyard.core.auth import auth_required, current_user, verified_required
from flaskyard.core.links import links
from flaskyard.core.paging import PageQuery
from flaskyard.extensions import db
from flaskyard.posts import cache, services
from flaskyard.posts.models import Post
from flaskyard.posts.schemas import PostIn, PostOut, PostPageOut, PostPatchIn, page_json

bp = APIBlueprint("posts", __name__, url_prefix="/api/v1/posts", tag="Posts")


@bp.get("")
@bp.input(PageQuery, location="query", arg_name="paging")
@bp.output(PostPageOut)
@bp.doc(summary="List posts, newest first")
def list_posts(paging: dict[str, int]) -> Any:
    """One page of posts; ``per_page`` is at most 100."""
    page, per_page = paging["page"], paging["per_page"]
    stamp = cache.version() if cache.enabled() else None
    body = cache.get(page, per_page, stamp) if stamp is not None else None
    if body is None:
        result = services.list_posts(engine=db.engine, page=page, per_page=per_page)
        body = json.dumps(page_json(result), separators=(",", ":")).encode()
        if stamp is not None:
            cache.put(page, per_page, stamp, body)
    return Response(body, mimetype="application/json")


@bp.get("/<uuid:post_id>")
@bp.output(PostOut)
@bp.doc(summary="Get one post", responses=[404])
def get_post(post_id: uuid.UUID) -> Any:
    """The post with this id."""
    return _post_or_404(post_id)


def _post_or_404(post_id: uuid.UUID) -> Post:
    post = services.get_post(session=db.session, post_id=post_id)
    if post is None:
        abort(404, detail="No post has that id.")
    return post


@bp.post("")
@bp.input(PostIn, arg_name="data")
@bp.output(
    PostOut,
    status_code=201,
    links=links(
        "post_id",
        ("GetPost", "get", "posts.get_post"),
        ("UpdatePost", "patch", "posts.update_post"),
        ("DeletePost", "delete", "posts.delete_post"),
    ),
)
@bp.doc(summary="Write a post", security="BearerAuth", responses=[401, 403, 422])
@auth_required()
@verified_required
def create_post(data: dict[str, Any]) -> Any:
    """A new post by the signed-in user."""
    try:
        post = services.create_post(session=db.session, author=current_user(), **data)
    except services.AttachmentError as exc:
        db.session.rollback()
        abort(422, detail=str(exc))
    db.session.commit()
    return post, 201, {"Location": url_for("posts.get_post", post_id=post.id)}


@bp.patch("/<uuid:post_id>")
@bp.input(PostPatchIn, arg_name="data")
@bp.output(PostOut)
@bp.doc(summary="Change a post (author or admin)", security="BearerAuth", responses=[401, 403, 404])
@auth_required()
def update_post(post_id: uuid.UUID, data: dict[str, Any]) -> Any:
    """Change the title and/or body."""
    post = _post_or_404(post_id)
    try:
        services.update_post(session=db.session, post=post, user=current_user(), **data)
    except services.NotAllowedError as exc:
        abort(403, detail=str(exc))
    except services.AttachmentError as exc:
        db.session.rollback()
        abort(422, detail=str(exc))
    db.session.commit()
    return post


@bp.delete("/<uuid:post_id>")
@bp.output({}, status_code=204)
@bp.doc(summary="Delete a post (author or admin)", security="BearerAuth", responses=[401, 403, 404])
@auth_required()
def delete_post(post_id: uuid.UUID) -> Any:
    """Delete the post."""
    post = _post_or_404(post_id)
    try:
        services.delete_post(session=db.session, post=post, user=current_user())
    except services.NotAllowedError as exc:
        abort(403, detail=str(exc))
    db.session.commit()
    return ""
