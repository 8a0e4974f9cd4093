"""Account rules that span the domains: what a password change or an account deletion does."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa

from flaskyard.auth import services as auth_services
from flaskyard.database import DbSession
from flaskyard.jobs import runtime as jobs_runtime
from flaskyard.jobs import services as jobs_services
from flaskyard.posts import services as posts_services
from flaskyard.uploads import services as uploads_services
from flaskyard.uploads import storage
from flaskyard.users import services as users_services
from flaskyard.users.models import User, normalize_key
from flaskyard.users.passwords import hash_password, verify_password

log = logging.getLogger(__name__)


class WrongPasswordError(Exception):
    """The password given to confirm a change is not the account's password."""

    def __init__(self, field_name: str) -> None:
        super().__init__("The password is wrong.")
        self.field_name = field_name


class EmailTakenError(Exception):
    """Another account already has that address."""


class SameEmailError(ValueError):
    """The new address is the one the account already has."""


@dataclass
class Leftovers:
    """What a deleted account leaves to do once the deletion is committed."""

    files: list[Path] = field(default_factory=list)
    unfinished_jobs: list[uuid.UUID] = field(default_factory=list)
    posts: int = 0


def check_password(*, user: User, password: str, field_name: str = "password") -> None:
    """Raise WrongPasswordError unless ``password`` is the user's; rehash if parameters changed."""
    ok, new_hash = verify_password(user.password_hash, password)
    if not ok:
        raise WrongPasswordError(field_name)
    if new_hash is not None:
        user.password_hash = new_hash


def sign_out_everywhere(*, session: DbSession, user: User) -> None:
    """Make every token of ``user``, on every device, stop working."""
    # Tokens carry the version they were issued at; the user loader refuses any other.
    user.token_version += 1
    session.flush()


def change_password(
    *, session: DbSession, user: User, current_password: str, new_password: str
) -> None:
    """Set a new password after checking the current one; every login is signed out."""
    check_password(user=user, password=current_password, field_name="current_password")
    user.password_hash = hash_password(new_password)
    sign_out_everywhere(session=session, user=user)


def request_email_change(*, session: DbSession, user: User, password: str, email: str) -> None:
    """Mail a confirmation link to ``email``; the address changes only once it is followed."""
    check_password(user=user, password=password)
    key = normalize_key(email)
    if key == user.email_key:
        raise SameEmailError("That is already your email address.")
    if session.scalar(sa.select(User.id).where(User.email_key == key)) is not None:
        raise EmailTakenError("That email is already taken.")
    session.flush()  # a rehashed password is kept even though nothing else changes yet
    auth_services.send_email_change(user, email.strip())


def delete_account(*, session: DbSession, user: User, password: str) -> Leftovers:
    """Delete the user with their jobs, posts and uploads; the caller commits, then tidies up."""
    check_password(user=user, password=password)
    # Deactivating first reuses the rule that one active admin must remain (LastAdminError).
    users_services.update_user(session=session, user=user, active=False)
    leftovers = Leftovers()
    leftovers.unfinished_jobs = jobs_services.delete_owned(session=session, owner_id=user.id)
    leftovers.posts = posts_services.delete_by_author(session=session, author_id=user.id)
    leftovers.files = uploads_services.delete_owned(session=session, owner_id=user.id)
    session.delete(user)
    session.flush()
    return leftovers


def tidy_up(leftovers: Leftovers) -> None:
    """After the commit: remove the deleted files and stop jobs that may still be running."""
    for path in leftovers.files:
        storage.remove(path)
    for job_id in leftovers.unfinished_jobs:
        try:
            jobs_runtime.request_cancel(job_id)
        except Exception:  # noqa: BLE001 - the job fails on its own once its row is gone
            log.warning("could not ask job %s to stop", job_id, exc_info=True)
