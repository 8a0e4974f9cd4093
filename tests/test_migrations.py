"""Migrations on every backend: up, down, up again, and models that match them."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from flaskyard.extensions import db, ensure_migrate
from tests.support.apps import base_config, built_app
from tests.support.backends import fresh_database_url

APP_TABLES = {"users", "roles", "user_roles", "posts"}


def _tables() -> set[str]:
    return set(sa.inspect(db.engine).get_table_names())


def _version() -> list[str]:
    with db.engine.connect() as connection:
        return list(connection.scalars(sa.text("SELECT version_num FROM alembic_version")))


def test_upgrade_downgrade_upgrade(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url(backend, "flaskyard_migrations", tmp_path)
    with built_app(base_config(url, INSTANCE_DIR=tmp_path / "instance")) as app:
        ensure_migrate(app)
        with app.app_context():
            assert not _tables() & APP_TABLES
            upgrade()
            assert _tables() >= APP_TABLES | {"alembic_version"}
            head = _version()
            assert len(head) == 1
            downgrade(revision="base")
            assert _tables() <= {"alembic_version"}
            if "alembic_version" in _tables():
                assert _version() == []
            upgrade()
            assert _tables() >= APP_TABLES | {"alembic_version"}
            assert _version() == head


def test_models_match_migrations(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url(backend, "flaskyard_migrations", tmp_path)
    with built_app(base_config(url, INSTANCE_DIR=tmp_path / "instance")) as app:
        ensure_migrate(app)
        with app.app_context():
            upgrade()
            with db.engine.connect() as connection:
                context = MigrationContext.configure(connection, opts={"compare_type": True})
                diff = compare_metadata(context, db.metadata)
    assert diff == []


def test_every_model_table_is_migrated(backend: str, tmp_path: Path) -> None:
    url = fresh_database_url(backend, "flaskyard_migrations", tmp_path)
    with built_app(base_config(url, INSTANCE_DIR=tmp_path / "instance")) as app:
        ensure_migrate(app)
        with app.app_context():
            upgrade()
            assert set(db.metadata.tables) <= _tables()
