"""Seed the benchmark database: a few authors and N posts (default 1,000).

Run it with the same environment as the app (``DATABASE_URL`` etc.), after ``flask db upgrade``::

    python bench/seed.py --posts 1000 --authors 10

Authors go through ``create_user`` (real argon2 hashes, real roles); posts are one bulk
``INSERT`` through the ``Post`` model with distinct ``created_at`` values, so the newest-first
ordering is deterministic and seeding takes about a second. On PostgreSQL it ends with
``VACUUM ANALYZE``, as a bulk load should.

``--login-user NAME`` also creates an account (no posts) whose password is read from the
``BENCH_LOGIN_PASSWORD`` environment variable, for the login and token benchmarks; ``run.py``
generates that password randomly on every run, so no account with a known password outlives it.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from flaskyard import create_app
from flaskyard.extensions import db
from flaskyard.posts.models import Post
from flaskyard.users.models import User
from flaskyard.users.services import create_user

#: Roughly the size of a short real post: a sentence repeated to ~600 characters.
BODY_SENTENCE = "Flaskyard benchmark post number {n}: a paragraph of ordinary text. "


def seed(
    *, posts: int, authors: int, login_user: str | None = None, login_password: str = ""
) -> tuple[int, int]:
    """Create ``authors`` users and ``posts`` posts spread over them; return both counts.

    With ``login_user``, also create that account (not counted as an author).
    """
    app = create_app()
    with app.app_context():
        existing = db.session.scalar(sa.select(sa.func.count()).select_from(Post)) or 0
        if existing:
            raise SystemExit(f"seed: the database already holds {existing} posts; start empty.")
        users: list[User] = [
            create_user(
                session=db.session,
                username=f"bench-author-{i:02d}",
                email=f"bench-author-{i:02d}@example.invalid",
                password=secrets.token_urlsafe(24),
            )
            for i in range(authors)
        ]
        start = datetime(2024, 1, 1, tzinfo=UTC)
        rows = []
        for n in range(posts):
            stamp = start + timedelta(minutes=n)
            rows.append(
                {
                    "id": uuid.uuid4(),
                    "author_id": users[n % len(users)].id,
                    "title": f"Benchmark post {n:04d}",
                    "body": (BODY_SENTENCE.format(n=n) * 9).strip(),
                    "created_at": stamp,
                    "updated_at": stamp,
                }
            )
        if rows:
            db.session.execute(sa.insert(Post), rows)
        if login_user:
            create_user(
                session=db.session,
                username=login_user,
                email=f"{login_user}@example.invalid",
                password=login_password,
            )
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            # What a restore or bulk load ends with (and autovacuum would do a minute later,
            # in the middle of a measurement): statistics and the visibility map, so the
            # planner counts posts with an index-only scan instead of reading every row.
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.execute(sa.text("VACUUM ANALYZE"))
        count = db.session.scalar(sa.select(sa.func.count()).select_from(Post)) or 0
        user_count = db.session.scalar(sa.select(sa.func.count()).select_from(User)) or 0
    return count, user_count - (1 if login_user else 0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--posts", type=int, default=1000, help="posts to create (default 1000)")
    parser.add_argument("--authors", type=int, default=10, help="authors to create (default 10)")
    parser.add_argument(
        "--login-user",
        default=None,
        help="also create this account, password from $BENCH_LOGIN_PASSWORD",
    )
    args = parser.parse_args(argv)
    if args.posts < 0 or args.authors < 1:
        parser.error("--posts must be >= 0 and --authors >= 1")
    password = os.environ.get("BENCH_LOGIN_PASSWORD", "")
    if args.login_user and len(password) < 8:
        parser.error("--login-user needs BENCH_LOGIN_PASSWORD (8 characters or more)")
    began = time.perf_counter()
    count, user_count = seed(
        posts=args.posts,
        authors=args.authors,
        login_user=args.login_user,
        login_password=password,
    )
    took = time.perf_counter() - began
    extra = f" (+ login user {args.login_user})" if args.login_user else ""
    print(f"seed: {count} posts by {user_count} authors{extra} in {took:.1f} s")
    if count != args.posts:
        print(f"seed: expected {args.posts} posts, found {count}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
