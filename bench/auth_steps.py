"""What authenticating a request costs, step by step, each step timed alone in this process.

    python bench/auth_steps.py          # or: make bench-auth-steps

Creates the ``flaskyard_bench_steps`` database on the loopback PostgreSQL (dropped at the end),
migrates it, creates one user, then times every step of ``GET /api/v1/users/me`` on its own
(median of ``BENCH_STEPS_REPEATS`` batches of ``BENCH_STEPS_CALLS`` calls): the token decode
as Flask-JWT-Extended does it, the revocation lookup alone and with the user's generation in
the same round trip, the user read through the ORM (as before) and through one Core statement,
the user from process memory, the response schema, and whole requests through the test
client. Figures are microseconds per call and only mean something next to each other.

Settings (environment): BENCH_PG_HOST/BENCH_PG_PORT/BENCH_PG_USER as for ``bench/run.py``,
BENCH_REDIS_URL (redis://127.0.0.1:6379/14), BENCH_STEPS_CALLS (300), BENCH_STEPS_REPEATS (5).
"""

from __future__ import annotations

import os
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any
from urllib.parse import urlsplit

import jwt as pyjwt
import sqlalchemy.orm as so
from flask_jwt_extended import JWTManager, decode_token
from flask_jwt_extended.config import config as jwt_config
from flask_jwt_extended.utils import get_unverified_jwt_headers
from flask_migrate import upgrade
from harness import HarnessError
from run import LOOPBACK, _require_loopback, drop_database, recreate_database

from flaskyard import create_app
from flaskyard.auth import principals
from flaskyard.auth.revocation import RedisStore, get_store
from flaskyard.auth.tokens import FAMILY_PREFIX, VERIFIED_KEY, issue_pair, jwt
from flaskyard.extensions import db, ensure_migrate
from flaskyard.users.models import User
from flaskyard.users.schemas import UserOut
from flaskyard.users.services import create_user, load_snapshot

DB_NAME = "flaskyard_bench_steps"


@dataclass(frozen=True)
class StepsConfig:
    """Where the scratch database and Redis are (the PgTarget run.py's helpers take)."""

    pg_host: str
    pg_port: int
    pg_user: str
    db_name: str
    redis_url: str
    calls: int
    repeats: int


def load_config() -> StepsConfig:
    """Read the environment; every host must be loopback."""
    redis_url = os.environ.get("BENCH_REDIS_URL", f"redis://{LOOPBACK}:6379/14")
    _require_loopback("BENCH_REDIS_URL", urlsplit(redis_url).hostname or "")
    return StepsConfig(
        pg_host=_require_loopback("BENCH_PG_HOST", os.environ.get("BENCH_PG_HOST", LOOPBACK)),
        pg_port=int(os.environ.get("BENCH_PG_PORT", "5432")),
        pg_user=os.environ.get("BENCH_PG_USER", "postgres"),
        db_name=DB_NAME,
        redis_url=redis_url,
        calls=int(os.environ.get("BENCH_STEPS_CALLS", "300")),
        repeats=int(os.environ.get("BENCH_STEPS_REPEATS", "5")),
    )


def per_call_us(func: Callable[[], Any], calls: int, repeats: int) -> float:
    """Median over ``repeats`` batches of the mean time of one call, in microseconds."""
    func()  # warm caches (compiled statements, connections)
    batches = []
    for _ in range(repeats):
        began = time.perf_counter()
        for _ in range(calls):
            func()
        batches.append((time.perf_counter() - began) / calls * 1e6)
    return statistics.median(batches)


def measure(config: StepsConfig, instance: Path) -> list[tuple[str, float]]:
    """Every step's cost; the database must exist and be empty."""
    app = create_app(
        {
            "DATABASE_URL": f"postgresql+psycopg://{config.pg_user}@{config.pg_host}:"
            f"{config.pg_port}/{config.db_name}",
            "REDIS_URL": config.redis_url,
            "TOKEN_BLOCKLIST": "redis",
            "SECRET_KEY": secrets.token_urlsafe(48),
            "JWT_SECRET_KEY": secrets.token_urlsafe(48),
            "INSTANCE_DIR": str(instance),
            "LOG_LEVEL": "WARNING",
        },
        environ={"APP_ENV": "production"},
    )
    ensure_migrate(app)
    with app.app_context():
        upgrade()
        user = create_user(
            session=db.session,
            username="bench-steps",
            email="bench-steps@example.invalid",
            password=secrets.token_urlsafe(24),
        )
        db.session.commit()
        user_id = user.id
        token = issue_pair(user)["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    client = app.test_client()
    if client.get("/api/v1/users/me", headers=headers).status_code != 200:
        raise HarnessError("GET /api/v1/users/me did not answer 200.")

    n, r = config.calls, config.repeats
    steps: list[tuple[str, Callable[[], Any]]] = []
    with app.test_request_context("/api/v1/users/me", headers=headers):
        claims = decode_token(token)
        store = get_store()
        if not isinstance(store, RedisStore):
            raise HarnessError("The revocation store is not Redis.")
        keys = (claims["jti"], FAMILY_PREFIX + claims["fam"])
        gen_key = principals.generation_key(user_id)
        generation = store.any_revoked_with(keys, gen_key)[1]
        secret = str(jwt_config.decode_key)
        schema = UserOut()
        snapshot = load_snapshot(session=db.session, user_id=user_id)
        db.session.remove()

        def fresh_decode() -> None:
            # Drop what this process verified, so the whole decode runs.
            app.extensions[VERIFIED_KEY] = type(app.extensions[VERIFIED_KEY])()
            decode_token(token)

        def orm_user() -> None:
            db.session.get(
                User, user_id, populate_existing=True, options=[so.joinedload(User.roles)]
            )
            db.session.remove()

        def core_user() -> None:
            load_snapshot(session=db.session, user_id=user_id)
            db.session.remove()

        steps += [
            (
                "JWT: Flask-JWT-Extended's decode, 3 parses (before)",
                lambda: JWTManager._decode_jwt_from_config(jwt, token),
            ),
            (
                "JWT: one decode_complete + checks (a token new to the process)",
                fresh_decode,
            ),
            ("JWT: decode_token, token verified before (now, usual)", lambda: decode_token(token)),
            (
                "JWT: header parse by its view decorator (both)",
                lambda: get_unverified_jwt_headers(token),
            ),
            (
                "JWT: bare PyJWT decode_complete (floor)",
                lambda: pyjwt.decode_complete(token, secret, algorithms=["HS256"]),
            ),
            ("revocation only: EXISTS jti, family (before)", lambda: store.any_revoked(*keys)),
            (
                "revocation + generation: one MGET (now)",
                lambda: store.any_revoked_with(keys, gen_key),
            ),
            ("user: ORM get + joinedload roles, own transaction (before)", orm_user),
            ("user: Core statement, own transaction (cache miss)", core_user),
            (
                "user: from process memory (cache hit)",
                lambda: principals._entries().get(user_id, generation or b""),
            ),
            ("response: UserOut dump", lambda: schema.dump(snapshot)),
        ]
        timed = [(label, per_call_us(call, n, r)) for label, call in steps]
    timed.append(
        (
            "whole GET /users/me through the test client (warm)",
            per_call_us(lambda: client.get("/api/v1/users/me", headers=headers), n, r),
        )
    )
    timed.append(
        (
            "whole GET /healthz through the test client",
            per_call_us(lambda: client.get("/healthz"), n, r),
        )
    )
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    return timed


def main() -> int:
    try:
        config = load_config()
        recreate_database(config)
    except HarnessError as exc:
        print(f"auth_steps: {exc}", file=sys.stderr)
        return 1
    try:
        with TemporaryDirectory(prefix="flaskyard-steps-") as tmp:
            timed = measure(config, Path(tmp) / "instance")
    finally:
        drop_database(config)
    width = max(len(label) for label, _ in timed)
    print(f"{'step':<{width}}  {'us/call':>8}")
    for label, us in timed:
        print(f"{label:<{width}}  {us:>8.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
