"""User and role rules: creation, uniqueness, default roles."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
import sqlalchemy.orm as so
from marshmallow import ValidationError

from flaskyard.core.paging import Page
from flaskyard.core.problems import Message
from flaskyard.database import DbSession
from flaskyard.users.models import Role, User, normalize_key, user_roles
from flaskyard.users.passwords import hash_password
from flaskyard.users.schemas import UserCreateIn

DEFAULT_ROLES: dict[str, str] = {
    "user": "Can write posts, upload files and run jobs.",
    "admin": "Can manage users and see every job.",
}


class UserExistsError(Exception):
    """The username or email is already taken; ``field`` says which."""

    def __init__(self, message: str, *, field: str) -> None:
        super().__init__(message)
        self.field = field


class InvalidUserError(ValueError):
    """The data for a new user failed validation; ``messages`` maps fields to errors."""

    def __init__(self, messages: Mapping[str, list[str]]) -> None:
        self.messages = dict(messages)
        field, errors = next(iter(self.messages.items()))
        super().__init__(errors[0] if errors else f"{field} is invalid.")


def validate_new_user(data: Mapping[str, object]) -> dict[str, str]:
    """Validate registration data with the same schema the API uses."""
    try:
        loaded: dict[str, str] = UserCreateIn().load(dict(data))
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        raise InvalidUserError(
            {str(k): v if isinstance(v, list) else [str(v)] for k, v in messages.items()}
        ) from exc
    return loaded


def ensure_roles(*, session: DbSession, names: Iterable[str] = DEFAULT_ROLES) -> list[Role]:
    """Create the named roles that do not exist yet; return them all."""
    wanted = list(names)
    existing = {r.name: r for r in session.scalars(sa.select(Role).where(Role.name.in_(wanted)))}
    for name in wanted:
        if name not in existing:
            existing[name] = Role(name=name, description=DEFAULT_ROLES.get(name, ""))
            session.add(existing[name])
    session.flush()
    return [existing[name] for name in wanted]


def _named_by(key: str | sa.BindParameter[str]) -> sa.ColumnElement[bool]:
    """The user whose username or email is ``key`` (already case-folded by normalize_key)."""
    return sa.or_(User.username_key == key, User.email_key == key)


def find_user(*, session: DbSession, login: str) -> User | None:
    """Find a user by username or email, case-insensitively."""
    return session.scalar(sa.select(User).where(_named_by(normalize_key(login))))


def create_user(
    *,
    session: DbSession,
    username: str,
    email: str,
    password: str,
    roles: Iterable[str] = ("user",),
    email_verified: bool = False,
) -> User:
    """Validate and add a user with the given roles; the caller commits."""
    data = validate_new_user({"username": username, "email": email, "password": password})
    taken = session.scalar(
        sa.select(User).where(
            sa.or_(
                User.username_key == normalize_key(data["username"]),
                User.email_key == normalize_key(data["email"]),
            )
        )
    )
    if taken is not None:
        if taken.username_key == normalize_key(data["username"]):
            raise UserExistsError("That username is already taken.", field="username")
        raise UserExistsError("That email is already taken.", field="email")
    user = User(
        username=data["username"],
        email=data["email"],
        password_hash=hash_password(data["password"]),
        email_verified=email_verified,
    )
    user.roles = ensure_roles(session=session, names=roles)
    session.add(user)
    session.flush()
    return user


class LastAdminError(Exception):
    """The change would leave no active admin."""


class UnknownRoleError(ValueError):
    """A role name that does not exist."""


def get_user(*, session: DbSession, user_id: uuid.UUID) -> User | None:
    """The user with ``user_id``, or None."""
    return session.get(User, user_id)


@dataclass(frozen=True, slots=True)
class UserSnapshot:
    """A user as one read saw it, roles included: what a signed-in request needs to know.

    Plain data, not an ORM object, so it can outlive the session that read it (the auth
    domain keeps it between requests). Code that changes the user loads the model instead.
    """

    id: uuid.UUID
    username: str
    email: str
    roles: tuple[str, ...]
    active: bool
    email_verified: bool
    token_version: int
    roles_version: int
    created_at: datetime

    @property
    def role_names(self) -> list[str]:
        """The user's role names, sorted."""
        return list(self.roles)

    def has_role(self, name: str) -> bool:
        """Whether the user holds the role ``name``."""
        return name in self.roles


_users = User.__table__
_roles = Role.__table__
#: One statement for the user and their role names (one row per role, or one with NULL).
_SNAPSHOT = (
    sa.select(
        _users.c.id,
        _users.c.username,
        _users.c.email,
        _users.c.active,
        _users.c.email_verified,
        _users.c.token_version,
        _users.c.roles_version,
        _users.c.created_at,
        _roles.c.name,
    )
    .select_from(_users)
    .outerjoin(user_roles, user_roles.c.user_id == _users.c.id)
    .outerjoin(_roles, _roles.c.id == user_roles.c.role_id)
    .where(_users.c.id == sa.bindparam("user_id"))
)


@dataclass(frozen=True, slots=True)
class SignInRecord:
    """What a sign-in needs of an account: who it is, its hash, and whether it may sign in."""

    id: uuid.UUID
    password_hash: str
    active: bool
    token_version: int


_SIGN_IN = sa.select(
    _users.c.id, _users.c.password_hash, _users.c.active, _users.c.token_version
).where(_named_by(sa.bindparam("key")))


def find_sign_in(*, engine: sa.Engine, login: str) -> SignInRecord | None:
    """The account a username or email names (case-insensitively), for checking a password.

    Read-only, so on an autocommit connection: one round trip (no BEGIN and ROLLBACK), plain
    Core rows, and the request's session stays unused unless the sign-in has to write.
    """
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        row = connection.execute(_SIGN_IN, {"key": normalize_key(login)}).first()
    if row is None:
        return None
    return SignInRecord(
        id=row.id,
        password_hash=row.password_hash,
        active=bool(row.active),
        token_version=int(row.token_version),
    )


def load_snapshot(*, session: DbSession, user_id: uuid.UUID) -> UserSnapshot | None:
    """The user ``user_id`` with their role names in one round trip, or None.

    A Core statement on the session's connection: no identity map, no ORM rows, so it costs
    about a third of loading the model with its roles.
    """
    rows = session.connection().execute(_SNAPSHOT, {"user_id": user_id}).all()
    if not rows:
        return None
    first = rows[0]
    return UserSnapshot(
        id=first.id,
        username=first.username,
        email=first.email,
        roles=tuple(sorted(row.name for row in rows if row.name is not None)),
        active=bool(first.active),
        email_verified=bool(first.email_verified),
        token_version=int(first.token_version),
        roles_version=int(first.roles_version),
        created_at=first.created_at,
    )


def list_users(*, session: DbSession, page: int, per_page: int, q: str | None = None) -> Page[User]:
    """One page of users, oldest first; ``q`` keeps those whose username or email contains it."""
    condition: sa.ColumnElement[bool] = sa.true()
    if q and q.strip():
        # The *_key columns are case-folded, so a folded needle makes the match case-insensitive.
        needle = normalize_key(q)
        condition = sa.or_(
            User.username_key.contains(needle, autoescape=True),
            User.email_key.contains(needle, autoescape=True),
        )
    total = session.scalar(sa.select(sa.func.count()).select_from(User).where(condition)) or 0
    items = session.scalars(
        sa.select(User)
        .where(condition)
        .options(so.selectinload(User.roles))
        .order_by(User.created_at, User.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page(items=list(items), page=page, per_page=per_page, total=total)


def active_admin_count(*, session: DbSession) -> int:
    """How many active accounts hold the admin role."""
    return _active_admins(session)


def _active_admins(session: DbSession) -> int:
    return int(
        session.scalar(
            sa.select(sa.func.count(sa.distinct(User.id)))
            .join(User.roles)
            .where(Role.name == "admin", User.active.is_(True))
        )
        or 0
    )


def update_user(
    *, session: DbSession, user: User, roles: list[str] | None = None, active: bool | None = None
) -> User:
    """Set roles and/or the active flag; refuses to remove the last active admin."""
    if roles is not None:
        wanted = sorted(set(roles))
        found = list(session.scalars(sa.select(Role).where(Role.name.in_(wanted))))
        missing = sorted(set(wanted) - {role.name for role in found})
        if missing:
            raise UnknownRoleError(Message("Unknown role: %(roles)s.", roles=", ".join(missing)))
        if sorted(role.name for role in found) != user.role_names:
            user.roles_version += 1
        user.roles = found
    if active is not None:
        if user.active and not active:
            # Every token issued so far dies with the deactivation and stays dead after a
            # reactivation: being let back in is not a reason to trust old sessions.
            user.token_version += 1
        user.active = active
    session.flush()
    if _active_admins(session) == 0:
        raise LastAdminError("At least one active admin must remain.")
    return user
