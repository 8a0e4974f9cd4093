"""Users and roles on every backend: uniqueness, validation, password hashing, timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from flask_sqlalchemy import SQLAlchemy

from flaskyard.users.models import Role, User
from flaskyard.users.passwords import (
    EXTENSION_KEY,
    OWASP_PARAMETERS,
    TESTING_PARAMETERS,
    hash_password,
    make_hasher,
    verify_password,
)
from flaskyard.users.services import (
    InvalidUserError,
    UserExistsError,
    ensure_roles,
    find_user,
)
from tests.support.apps import count_rows
from tests.support.factories import UserFactory


def _reload(db: SQLAlchemy, user: User) -> User:
    user_id = user.id
    db.session.commit()
    db.session.expunge_all()
    reloaded = db.session.get(User, user_id)
    assert reloaded is not None
    return reloaded


# Uniqueness


@pytest.mark.parametrize("other", ["Alice", "ALICE", "aLiCe"])
def test_username_is_unique_case_insensitively(make_user: UserFactory, other: str) -> None:
    make_user("alice")
    with pytest.raises(UserExistsError, match="username"):
        make_user(other, email="someone-else@example.com")


def test_email_is_unique_case_insensitively(make_user: UserFactory) -> None:
    make_user("alice", email="alice@example.com")
    with pytest.raises(UserExistsError, match="email"):
        make_user("bob", email="ALICE@Example.COM")


def test_database_enforces_username_key(make_user: UserFactory, db: SQLAlchemy) -> None:
    make_user("alice")
    db.session.add(User(username="ALICE", email="x@example.com", password_hash="x"))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()
    db.session.rollback()
    assert count_rows("users") == 1


def test_find_user_by_username_or_email(make_user: UserFactory, db: SQLAlchemy) -> None:
    user = make_user("Alice", email="Alice@Example.com")
    assert find_user(session=db.session, login="aLiCe") == user
    assert find_user(session=db.session, login="alice@example.COM") == user
    assert find_user(session=db.session, login="bob") is None
    assert user.username == "Alice"
    assert user.email == "Alice@Example.com"


# Validation


@pytest.mark.parametrize(
    "username",
    ["abc", "a" * 32, "A.b-c_9", "9lives", "x_-.", "Zed"],
)
def test_valid_usernames(make_user: UserFactory, username: str) -> None:
    assert make_user(username, email="u@example.com").username == username


@pytest.mark.parametrize(
    "username",
    ["_abc", ".abc", "-abc", "ab", "a" * 33, "jürgen", "名字abc", "a b c", "abc!", "a@b.c", ""],
    ids=[
        "leading-underscore",
        "leading-dot",
        "leading-dash",
        "two-chars",
        "33-chars",
        "umlaut",
        "cjk",
        "space",
        "bang",
        "at-sign",
        "empty",
    ],
)
def test_invalid_usernames(make_user: UserFactory, db: SQLAlchemy, username: str) -> None:
    with pytest.raises(InvalidUserError) as info:
        make_user(username, email="u@example.com")
    assert "username" in info.value.messages
    assert str(info.value).startswith("Username must be 3-32 characters")
    db.session.rollback()
    assert count_rows("users") == 0


@pytest.mark.parametrize("length", [8, 128])
def test_password_length_boundaries_accepted(make_user: UserFactory, length: int) -> None:
    password = ("Pw1-" * 40)[:length]
    user = make_user("alice", password=password)
    assert verify_password(user.password_hash, password) == (True, None)


@pytest.mark.parametrize("length", [0, 7, 129])
def test_password_length_boundaries_refused(make_user: UserFactory, length: int) -> None:
    with pytest.raises(InvalidUserError) as info:
        make_user("alice", password="p" * length)
    assert "password" in info.value.messages
    assert str(info.value) == "Password must be 8 to 128 characters."


def test_password_length_counts_characters_not_bytes(make_user: UserFactory) -> None:
    password = "🔑" * 128  # 512 bytes in UTF-8
    user = make_user("alice", password=password)
    assert verify_password(user.password_hash, password)[0] is True


def test_invalid_email_is_refused(make_user: UserFactory) -> None:
    with pytest.raises(InvalidUserError) as info:
        make_user("alice", email="not-an-email")
    assert "email" in info.value.messages


# Roles


def test_new_users_get_the_user_role(make_user: UserFactory) -> None:
    assert make_user("alice").role_names == ["user"]
    admin = make_user("root", roles=("user", "admin"))
    assert admin.role_names == ["admin", "user"]
    assert admin.has_role("admin")


def test_ensure_roles_is_idempotent(db: SQLAlchemy) -> None:
    first = ensure_roles(session=db.session)
    db.session.commit()
    second = ensure_roles(session=db.session)
    db.session.commit()
    assert [r.id for r in first] == [r.id for r in second]
    assert sorted(db.session.scalars(sa.select(Role.name))) == ["admin", "user"]


# Passwords


def test_password_hash_is_argon2id(make_user: UserFactory) -> None:
    user = make_user("alice", password="correct horse battery")
    assert user.password_hash.startswith("$argon2id$")
    assert "correct horse battery" not in user.password_hash


def test_production_parameters_follow_owasp() -> None:
    hashed = make_hasher(**OWASP_PARAMETERS).hash("correct horse battery")
    assert hashed.startswith("$argon2id$")
    assert "$m=19456,t=2,p=1$" in hashed


def test_testing_app_uses_cheap_parameters(app: APIFlask) -> None:
    hasher = app.extensions[EXTENSION_KEY]
    assert hasher.memory_cost == TESTING_PARAMETERS["memory_cost"]


def test_wrong_password_and_garbage_hash_fail(make_user: UserFactory, db: SQLAlchemy) -> None:
    user = make_user("alice", password="correct horse battery")
    assert verify_password(user.password_hash, "correct horse batterY") == (False, None)
    assert verify_password("not a hash", "correct horse battery") == (False, None)


def test_verify_returns_new_hash_when_parameters_change(app: APIFlask, db: SQLAlchemy) -> None:
    old_hash = make_hasher(**TESTING_PARAMETERS).hash("correct horse battery")
    app.extensions[EXTENSION_KEY] = make_hasher(**OWASP_PARAMETERS)
    ok, new_hash = verify_password(old_hash, "correct horse battery")
    assert ok is True
    assert new_hash is not None
    assert "$m=19456,t=2,p=1$" in new_hash
    assert verify_password(new_hash, "correct horse battery") == (True, None)
    assert verify_password(old_hash, "wrong password!") == (False, None)


@pytest.mark.parametrize(
    "password",
    ["pässwörd-🔑-密码-ключ", "x" * 64 + "-long", "A" * 72 + "tail-one"],
    ids=["unicode", "long", "past-72-bytes"],
)
def test_passwords_round_trip(make_user: UserFactory, db: SQLAlchemy, password: str) -> None:
    user = _reload(db, make_user("alice", password=password))
    assert verify_password(user.password_hash, password) == (True, None)
    # Nothing is truncated: a difference after byte 72 (bcrypt's limit) still matters.
    assert verify_password(user.password_hash, password[:-1] + "#")[0] is False


def test_password_is_hashed_exactly_as_given(db: SQLAlchemy) -> None:
    hashed = hash_password("  spaced password  ")
    assert verify_password(hashed, "  spaced password  ")[0] is True
    assert verify_password(hashed, "spaced password")[0] is False


# Timestamps


def test_created_at_is_aware_utc_after_reload(make_user: UserFactory, db: SQLAlchemy) -> None:
    before = datetime.now(UTC)
    user = _reload(db, make_user("alice"))
    assert user.created_at.tzinfo is not None
    assert user.created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= user.created_at <= datetime.now(UTC)


def test_other_offsets_are_stored_as_utc_with_microseconds(
    make_user: UserFactory, db: SQLAlchemy
) -> None:
    user = make_user("alice")
    user.created_at = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    user = _reload(db, user)
    assert user.created_at == datetime(2024, 5, 6, 5, 8, 9, 123456, tzinfo=UTC)
    assert user.created_at.tzinfo is not None
    assert user.created_at.utcoffset() == timedelta(0)
    stored = db.session.scalar(sa.text("SELECT created_at FROM users"))
    if isinstance(stored, datetime):  # SQLite hands back text
        assert stored.replace(tzinfo=None) == datetime(2024, 5, 6, 5, 8, 9, 123456)


def test_naive_datetimes_are_refused(make_user: UserFactory, db: SQLAlchemy) -> None:
    user = make_user("alice")
    user.created_at = datetime(2024, 5, 6, 7, 8, 9)
    with pytest.raises(sa.exc.StatementError, match="Naive datetimes"):
        db.session.flush()
    db.session.rollback()
