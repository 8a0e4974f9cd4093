"""Data commands: db (Flask-Migrate, loaded lazily), reset-db, create-admin, seed, purge-revoked.

Like routes, commands are callers: the services they use flush, and the command commits.
"""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import cast

import click
import sqlalchemy as sa
from flask import current_app, g
from flask.cli import with_appcontext

from flaskyard.auth import principals
from flaskyard.auth.revocation import get_store
from flaskyard.config import ConfigError, expand_setting
from flaskyard.extensions import db, ensure_migrate
from flaskyard.posts import cache as posts_cache
from flaskyard.posts.models import Post
from flaskyard.posts.services import create_post
from flaskyard.settings import current_settings
from flaskyard.users.services import (
    InvalidUserError,
    UserExistsError,
    create_user,
    ensure_roles,
    find_user,
)

DEMO_AUTHOR = "flaskyard-demo"
DEMO_POSTS = (
    ("Welcome to Flaskyard", "This post was created by `flask seed` in development."),
    ("Jobs with live progress", "Start a demo job from the API and watch its progress stream."),
    ("Uploads", "Files are checked by size, type and content before they are stored."),
)


@click.command("reset-db")
@with_appcontext
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--force", is_flag=True, help="Allow this in production.")
def reset_db(yes: bool, force: bool) -> None:
    """Drop every table and apply all migrations again (destroys all data)."""
    if current_settings().production and not force:
        raise click.ClickException("Refusing to reset a production database without --force.")
    if not yes:
        click.confirm("This deletes every row in the database. Continue?", abort=True)
    from flask_migrate import upgrade  # Alembic is heavy; only this command and `db` load it

    ensure_migrate(current_app._get_current_object())  # type: ignore[attr-defined]
    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    upgrade()
    # Dropping tables bypasses the session, so tell the posts cache's and the signed-in
    # users' commit hooks.
    posts_cache.mark_changed(db.session())
    principals.mark_all_changed(db.session())
    db.session.commit()
    click.echo("The database was reset and migrated to the latest revision.")


def _admin_password(password_file: Path | None) -> str:
    if password_file is not None:
        text = password_file.read_text(encoding="utf-8")
        return text[:-1] if text.endswith("\n") else text
    try:
        from_env = expand_setting("ADMIN_PASSWORD", os.environ)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    if from_env is not None:
        return from_env
    if not sys.stdin.isatty():
        raise click.ClickException(
            "No password given: use --password-file, ADMIN_PASSWORD, or run in a terminal."
        )
    password: str = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    return password


@click.command("create-admin")
@with_appcontext
@click.argument("username")
@click.argument("email")
@click.option(
    "--password-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the password from this file (one trailing newline is ignored).",
)
def create_admin(username: str, email: str, password_file: Path | None) -> None:
    """Create an administrator; the password comes from a prompt, a file or ADMIN_PASSWORD."""
    password = _admin_password(password_file)
    try:
        user = create_user(
            session=db.session,
            username=username,
            email=email,
            password=password,
            roles=("user", "admin"),
            email_verified=True,
        )
    except (InvalidUserError, UserExistsError) as exc:
        db.session.rollback()
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Created admin {user.username} ({user.id}).")


@click.command("seed")
@with_appcontext
def seed() -> None:
    """Create the default roles (and demo posts in development); safe to run again."""
    ensure_roles(session=db.session)
    created = 0
    if current_settings().APP_ENV == "development":
        author = find_user(session=db.session, login=DEMO_AUTHOR)
        if author is None:
            # Nobody knows this password and the account cannot sign in: it only owns demo posts.
            author = create_user(
                session=db.session,
                username=DEMO_AUTHOR,
                email=f"{DEMO_AUTHOR}@example.invalid",
                password=secrets.token_urlsafe(32),
            )
            author.active = False
        has_posts = db.session.scalar(sa.select(sa.func.count()).where(Post.author_id == author.id))
        if not has_posts:
            for title, body in DEMO_POSTS:
                create_post(session=db.session, author=author, title=title, body=body)
                created += 1
    db.session.commit()
    click.echo(f"Default roles present; {created} demo posts created.")


@click.command("purge-revoked")
@with_appcontext
def purge_revoked() -> None:
    """Delete revocation entries whose tokens have expired anyway (database store)."""
    click.echo(f"Purged {get_store().purge()} expired revocation entries.")


class _MigrateCommands(click.Group):
    """Flask-Migrate's ``db`` commands, imported only when one of them runs."""

    @staticmethod
    def _group() -> click.Group:
        from flask_migrate.cli import db as group  # import cost: Alembic, for `db` only

        return cast(click.Group, group)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return self._group().list_commands(ctx)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return self._group().get_command(ctx, cmd_name)


@click.group("db", cls=_MigrateCommands)
@click.option("-d", "--directory", default=None, help="Migration script directory.")
@click.option("-x", "--x-arg", multiple=True, help="Extra arguments for custom env.py scripts.")
@with_appcontext
def db_commands(directory: str | None, x_arg: tuple[str, ...]) -> None:
    """Perform database migrations (Flask-Migrate and Alembic)."""
    ensure_migrate(current_app._get_current_object())  # type: ignore[attr-defined]
    # What Flask-Migrate's own group callback records for its commands.
    g.directory = directory
    g.x_arg = x_arg
