"""The Flask CLI commands (``flask --app flaskyard …``), registered by the app factory."""

from __future__ import annotations

from flask import Flask

from flaskyard.cli.data import create_admin, db_commands, purge_revoked, reset_db, seed
from flaskyard.cli.processes import restart_workers, scheduler, worker
from flaskyard.cli.translations import translate

COMMANDS = (
    db_commands,
    reset_db,
    create_admin,
    seed,
    purge_revoked,
    worker,
    scheduler,
    restart_workers,
    translate,
)


def init_app(app: Flask) -> None:
    """Register every command on ``app.cli``."""
    for command in COMMANDS:
        app.cli.add_command(command)
