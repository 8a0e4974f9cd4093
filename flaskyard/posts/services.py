"""Post rules: listing, lookup, creation."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from flaskyard.core.auth import Principal
from flaskyard.core.paging import Page
from flaskyard.database import DbSession
from flaskyard.posts import cache
from flaskyard.posts.models import Post
from flaskyard.uploads.models import Upload, post_uploads
from flaskyard.users.models import User


@dataclass(frozen=True, slots=True)
class AuthorRow:
    """The author fields a listed post shows."""

    id: uuid.UUID
    username: str


@dataclass(frozen=True, slots=True)
class AttachmentRow:
    """The fields of an attached upload a listed post shows."""

    id: uuid.UUID
    filename: str
    content_type: str
    size: int
    thumbnail_id: uuid.UUID | None


@dataclass(frozen=True, slots=True)
class PostRow:
    """A listed post: plain values read by Core, shaped like ``Post`` for the schema."""

    id: uuid.UUID
    title: str
    body: str
    author: AuthorRow
    uploads: list[AttachmentRow]
    created_at: datetime
    updated_at: datetime

    @property
    def upload_ids(self) -> list[uuid.UUID]:
        """The ids of the files attached to this post."""
        return [upload.id for upload in self.uploads]


_TOTAL = sa.select(sa.func.count()).select_from(Post).scalar_subquery()
_PAGE = (
    sa.select(
        Post.id,
        Post.title,
        Post.body,
        Post.created_at,
        Post.updated_at,
        User.id.label("author_id"),
        User.username,
        _TOTAL.label("total"),
    )
    .join(User, User.id == Post.author_id)
    .order_by(Post.created_at.desc(), Post.id.desc())
    .limit(sa.bindparam("limit"))
    .offset(sa.bindparam("offset"))
    .subquery("page")
)
#: The page and its attachments in one statement: one row per (post, attachment), a post
#: without attachments once with NULLs.
_PAGE_WITH_ATTACHMENTS = (
    sa.select(
        _PAGE,
        Upload.id.label("upload_id"),
        Upload.filename,
        Upload.content_type,
        Upload.size,
        Upload.thumbnail_id,
    )
    .outerjoin(post_uploads, post_uploads.c.post_id == _PAGE.c.id)
    .outerjoin(Upload, Upload.id == post_uploads.c.upload_id)
    # Attachments oldest first, as the Post.uploads relationship orders them.
    .order_by(_PAGE.c.created_at.desc(), _PAGE.c.id.desc(), Upload.created_at, Upload.id)
)


def list_posts(*, engine: sa.Engine, page: int, per_page: int) -> Page[PostRow]:
    """Newest posts first, one page of them with their attachments, in one statement.

    A read-only path, so it runs on an autocommit connection: no BEGIN and ROLLBACK round
    trips. The total is an uncorrelated subquery, counted once and in the same snapshot as
    the rows (a window count would make the database read every post). Plain Core rows: the
    ORM's identity map and a second ``selectin`` query cost more than the query itself.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        rows = connection.execute(
            _PAGE_WITH_ATTACHMENTS, {"limit": per_page, "offset": (page - 1) * per_page}
        ).all()
        if not rows:
            # Past the last page no row carries the count.
            total = connection.scalar(sa.select(sa.func.count()).select_from(Post)) or 0
            return Page(items=[], page=page, per_page=per_page, total=total)
    items: dict[uuid.UUID, PostRow] = {}
    for row in rows:
        post = items.get(row.id)
        if post is None:
            post = items[row.id] = PostRow(
                id=row.id,
                title=row.title,
                body=row.body,
                author=AuthorRow(id=row.author_id, username=row.username),
                uploads=[],
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
        if row.upload_id is not None:
            post.uploads.append(
                AttachmentRow(
                    id=row.upload_id,
                    filename=row.filename,
                    content_type=row.content_type,
                    size=row.size,
                    thumbnail_id=row.thumbnail_id,
                )
            )
    return Page(items=list(items.values()), page=page, per_page=per_page, total=int(rows[0].total))


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
