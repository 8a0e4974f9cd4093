"""Argon2id password hashing with rehash-on-login when the parameters change."""

from __future__ import annotations

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app

EXTENSION_KEY = "flaskyard.password_hasher"

#: OWASP Password Storage Cheat Sheet: argon2id, m=19 MiB, t=2, p=1.
OWASP_PARAMETERS = {"memory_cost": 19 * 1024, "time_cost": 2, "parallelism": 1}
#: Cheap parameters for the test suite only; never used outside APP_ENV=testing.
TESTING_PARAMETERS = {"memory_cost": 1024, "time_cost": 1, "parallelism": 1}


def make_hasher(*, memory_cost: int, time_cost: int, parallelism: int) -> PasswordHasher:
    """An argon2id hasher with the given cost parameters."""
    return PasswordHasher(
        time_cost=time_cost, memory_cost=memory_cost, parallelism=parallelism, type=Type.ID
    )


def _hasher() -> PasswordHasher:
    hasher: PasswordHasher = current_app.extensions[EXTENSION_KEY]
    return hasher


def hash_password(password: str) -> str:
    """Hash ``password`` exactly as given (no trimming, no truncation)."""
    return _hasher().hash(password)


def verify_password(password_hash: str, password: str) -> tuple[bool, str | None]:
    """Check ``password``; on success also return a new hash when the parameters changed."""
    hasher = _hasher()
    try:
        hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False, None
    if hasher.check_needs_rehash(password_hash):
        return True, hasher.hash(password)
    return True, None
