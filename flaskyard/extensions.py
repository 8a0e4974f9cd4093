"""Unbound extension instances, bound to an app in create_app()."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from flask_sqlalchemy import SQLAlchemy

from flaskyard.database import Base

MIGRATIONS_DIR = Path(__file__).with_name("migrations")

db = SQLAlchemy(model_class=Base)


def ensure_migrate(app: Flask) -> None:
    """Bind Flask-Migrate to ``app`` on first use.

    It imports Alembic (about 10 MB per process), which web workers never need, so it is
    bound only by the ``flask db`` commands, ``reset-db`` and the container boot.
    """
    if "migrate" not in app.extensions:
        from flask_migrate import Migrate  # import cost: see above

        Migrate(app, db, directory=str(MIGRATIONS_DIR), render_as_batch=True)
