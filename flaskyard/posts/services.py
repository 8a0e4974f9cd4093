"""Post rules: listing, lookup, creation."""

from __future__ import annotations

import uuid

import sqlalchemy as sa

from flaskyard.core.auth import Principal
from flaskyard.core.paging import Page
from flaskyard.database import DbSession
from flaskyard.posts import cache
from flaskyard.posts.models import Post
from flaskyard.uploads.models import Upload


def list_posts(*, session: DbSession, page: int, per_page: int) -> Page[Post]:
    """Newest posts first, one page of them, with the total in the same round trip."""
    total_col = sa.func.count().over().label("total")
    rows = session.execute(
        sa.select(Post, total_col)
        .order_by(Post.created_at.desc(), Post.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    if rows:
        total = int(rows[0].total)
    else:
        # Past the last page the window function has no row to ride on.
        total = session.scalar(sa.select(sa.func.count()).select_from(Post)) or 0
    return Page(items=[row.Post for row in rows], page=page, per_page=per_page, total=total)


def get_post(*, session: DbSession, post_id: uuid.UUID) -> Post | None:
    """The post with ``post_id``, or None."""
    return session.get(Post, post_id)


class AttachmentError(ValueError):
    """An attachment id that is not one of the author's uploads."""


def _attachments(
    session: DbSession, owner_id: uuid.UUID, upload_ids: list[uuid.UUID]
) -> list[Upload]:
    wanted = list(dict.fromkeys(upload_ids))
    if not wanted:
        return []
    found = list(
        session.scalars(sa.select(Upload).where(Upload.id.in_(wanted), Upload.owner_id == owner_id))
    )
    if len(found) != len(wanted):
        raise AttachmentError("Every upload_id must be one of your uploads.")
    by_id = {upload.id: upload for upload in found}
    return [by_id[upload_id] for upload_id in wanted]


def create_post(
    *,
    session: DbSession,
    author: Principal,
    title: str,
    body: str,
    upload_ids: list[uuid.UUID] | None = None,
) -> Post:
    """Add a post by ``author`` with optional attachments; the caller commits."""
    post = Post(author_id=author.id, title=title, body=body)
    post.uploads = _attachments(session, author.id, upload_ids or [])
    session.add(post)
    session.flush()
    return post


class NotAllowedError(Exception):
    """The user may not change this post."""


def ensure_can_edit(*, post: Post, user: Principal) -> None:
    """Only the author or an admin may change or delete a post."""
    if post.author_id != user.id and not user.has_role("admin"):
        raise NotAllowedError("Only the author or an admin may change this post.")


def update_post(
    *,
    session: DbSession,
    post: Post,
    user: Principal,
    title: str | None = None,
    body: str | None = None,
    upload_ids: list[uuid.UUID] | None = None,
) -> Post:
    """Change the title, body and/or attachments of ``post``; the caller commits."""
    ensure_can_edit(post=post, user=user)
    if upload_ids is not None:
        post.uploads = _attachments(session, post.author_id, upload_ids)
    if title is not None:
        post.title = title
    if body is not None:
        post.body = body
    session.flush()
    return post


def delete_post(*, session: DbSession, post: Post, user: Principal) -> None:
    """Delete ``post``; the caller commits."""
    ensure_can_edit(post=post, user=user)
    session.delete(post)
    session.flush()


def delete_by_author(*, session: DbSession, author_id: uuid.UUID) -> int:
    """Delete every post of ``author_id`` (their attachment links go with them); return how many."""
    result = session.execute(sa.delete(Post).where(Post.author_id == author_id))
    session.flush()
    cache.mark_changed(session)  # a bulk delete: the session's flush hook never sees the posts
    return int(getattr(result, "rowcount", 0) or 0)
