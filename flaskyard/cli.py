"""Flask CLI commands: db (Flask-Migrate, loaded lazily), reset-db, create-admin, seed, worker."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import cast

import click
import sqlalchemy as sa
from flask import Flask, current_app, g
from flask.cli import FlaskGroup, with_appcontext

from flaskyard.config import ConfigError, expand_setting
from flaskyard.extensions import db, ensure_migrate
from flaskyard.posts import cache as posts_cache
from flaskyard.posts.models import Post
from flaskyard.posts.services import create_post
from flaskyard.queue import QUEUE_NAMES
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
    if current_app.config["APP_ENV"] == "production" and not force:
        raise click.ClickException("Refusing to reset a production database without --force.")
    if not yes:
        click.confirm("This deletes every row in the database. Continue?", abort=True)
    from flask_migrate import upgrade

    ensure_migrate(current_app._get_current_object())  # type: ignore[attr-defined]
    db.drop_all()
    with db.engine.begin() as connection:
        connection.execute(sa.text("DROP TABLE IF EXISTS alembic_version"))
    upgrade()
    posts_cache.bump()
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
    if current_app.config["APP_ENV"] == "development":
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
    posts_cache.bump()
    click.echo(f"Default roles present; {created} demo posts created.")


@click.command("worker")
@with_appcontext
@click.option(
    "--queues",
    default=",".join(QUEUE_NAMES),
    show_default=True,
    help="Comma-separated queues, highest priority first.",
)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
def worker(queues: str, burst: bool) -> None:
    """Run an RQ worker inside this app."""
    from flaskyard.worker import run_worker

    names = [name.strip() for name in queues.split(",") if name.strip()]
    unknown = [name for name in names if name not in QUEUE_NAMES]
    if unknown or not names:
        raise click.BadParameter(
            f"Queues must be among {', '.join(QUEUE_NAMES)}.", param_hint="--queues"
        )
    try:
        run_worker(current_app._get_current_object(), names, burst=burst)  # type: ignore[attr-defined]
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command("purge-revoked")
@with_appcontext
def purge_revoked() -> None:
    """Delete revocation entries whose tokens have expired anyway (database store)."""
    from flaskyard.auth.revocation import get_store

    click.echo(f"Purged {get_store().purge()} expired revocation entries.")


class _MigrateCommands(click.Group):
    """Flask-Migrate's ``db`` commands, imported only when one of them runs."""

    @staticmethod
    def _group() -> click.Group:
        from flask_migrate.cli import db as group

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


def init_app(app: Flask) -> None:
    """Register the commands on ``app.cli``."""
    for command in (db_commands, reset_db, create_admin, seed, worker, purge_revoked):
        app.cli.add_command(command)


def main() -> None:
    """The ``flaskyard`` console script: the Flask CLI bound to this app."""
    from flaskyard import create_app

    FlaskGroup(create_app=create_app)(prog_name="flaskyard")
