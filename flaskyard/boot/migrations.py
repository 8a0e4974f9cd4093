"""Applying migrations once across replicas, and compiling translation catalogues."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from flaskyard.boot.common import BootError, first_line, log

if TYPE_CHECKING:
    import sqlalchemy as sa

#: Postgres advisory-lock key and MySQL lock name that serialise migrations across replicas.
MIGRATION_LOCK_KEY = 0x466C736B  # "Flsk"
MIGRATION_LOCK_NAME = "flaskyard-migrations"
MIGRATION_LOCK_TIMEOUT_SECONDS = 600


@contextmanager
def migration_lock(engine: sa.Engine) -> Iterator[None]:
    """Hold a database-wide lock so concurrent replicas apply migrations one at a time."""
    import sqlalchemy as sa  # import cost: the health check imports this package

    dialect = engine.dialect.name
    if dialect == "postgresql":
        with engine.connect() as connection:
            got = connection.scalar(
                sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}
            )
            if not got:
                log.info("another process holds the migration lock; waiting for it")
                connection.execute(
                    sa.text("SELECT pg_advisory_lock(:k)"), {"k": MIGRATION_LOCK_KEY}
                )
            connection.commit()  # the lock is session-level: it outlives this transaction
            try:
                yield
            finally:
                connection.execute(
                    sa.text("SELECT pg_advisory_unlock(:k)"), {"k": MIGRATION_LOCK_KEY}
                )
                connection.commit()
    elif dialect in ("mysql", "mariadb"):
        with engine.connect() as connection:
            query = sa.text("SELECT GET_LOCK(:n, :t)")
            got = connection.scalar(query, {"n": MIGRATION_LOCK_NAME, "t": 0})
            if got != 1:
                log.info("another process holds the migration lock; waiting for it")
                got = connection.scalar(
                    query, {"n": MIGRATION_LOCK_NAME, "t": MIGRATION_LOCK_TIMEOUT_SECONDS}
                )
            if got != 1:
                raise BootError(
                    f"The migration lock was not released within "
                    f"{MIGRATION_LOCK_TIMEOUT_SECONDS} s."
                )
            try:
                yield
            finally:
                connection.execute(sa.text("SELECT RELEASE_LOCK(:n)"), {"n": MIGRATION_LOCK_NAME})
    elif dialect == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        import fcntl  # POSIX only, and only SQLite needs it

        lock_path = Path(f"{engine.url.database}.migrate-lock")
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with lock_path.open("a") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                log.info("another process holds the migration lock; waiting for it")
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)
    else:
        log.warning("no migration lock for the %s dialect; migrating without one", dialect)
        yield


def run_migrations() -> str | None:
    """Apply pending migrations under the migration lock; return the revision now current."""
    # Import cost: Alembic and the whole app load only for the roles that migrate.
    from alembic.migration import MigrationContext
    from flask_migrate import upgrade

    from flaskyard.app import create_app
    from flaskyard.extensions import db, ensure_migrate

    app = create_app()
    ensure_migrate(app)
    with app.app_context():
        engine = db.engine
        with migration_lock(engine):
            upgrade()
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
        engine.dispose()
    log.info("database schema at revision %s", revision)
    return revision


def compile_translations(instance_dir: Path | None = None) -> None:
    """Compile the catalogues whose .mo files are missing or stale.

    Into the package when it can be written, else under the instance folder (``INSTANCE_DIR``,
    else Flask's default one), which the app reads too: a read-only checkout boots as well.
    """
    # Import cost: Flask-Babel and Babel, for this step only.
    from flask import Flask

    from flaskyard.i18n import TRANSLATIONS_DIR, compile_stale

    catalogues = sorted(TRANSLATIONS_DIR.glob("*/LC_MESSAGES/*.po"))
    if not catalogues:
        log.debug("no translation catalogues to compile")
        return
    if instance_dir is None:
        instance_dir = Path(Flask("flaskyard", static_folder=None).instance_path)
    try:
        written = compile_stale(instance_dir)
    except (OSError, ValueError) as exc:
        raise BootError(f"Compiling translations failed: {first_line(exc)}.") from exc
    if not written:
        log.info("translations already compiled (%d catalogues)", len(catalogues))
    for path in written:
        log.info("compiled %s", path)
