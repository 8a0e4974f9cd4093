"""The Flask CLI commands: seed, create-admin, reset-db, worker."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.config import Config
from alembic.script import ScriptDirectory
from flask.testing import FlaskCliRunner
from flask_sqlalchemy import SQLAlchemy

from flaskyard import MIGRATIONS_DIR
from flaskyard.cli.data import DEMO_AUTHOR, DEMO_POSTS
from flaskyard.extensions import db as extension_db
from flaskyard.posts.models import Post
from flaskyard.settings import get_settings
from flaskyard.users.models import Role, User
from flaskyard.users.passwords import verify_password
from flaskyard.users.services import find_user
from tests.support.apps import base_config, built_app, count_rows
from tests.support.backends import fresh_database_url
from tests.support.factories import UserFactory

ADMIN_PASSWORD = "a long admin passphrase"
_VERSION_SQL = "SELECT version_num FROM alembic_version"


def _head() -> str:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def _invoke(app: Any, *args: str, **kwargs: Any) -> Any:
    """Run a command the way ``flask`` does: inside an app context of ``app``."""
    with app.app_context():
        return app.test_cli_runner().invoke(args=list(args), **kwargs)


def _role_names(db: SQLAlchemy) -> list[str]:
    return sorted(db.session.scalars(sa.select(Role.name)))


@pytest.fixture(autouse=True)
def _no_admin_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADMIN_PASSWORD", raising=False)
    monkeypatch.delenv("ADMIN_PASSWORD_FILE", raising=False)


# --help


def test_every_command_has_help(tmp_path: Path) -> None:
    config = base_config(f"sqlite:///{tmp_path / 'help.db'}", INSTANCE_DIR=tmp_path / "instance")
    with built_app(config) as app:
        names = sorted(app.cli.commands)
        assert {"seed", "create-admin", "reset-db", "worker"} <= set(names)
        for name in [*names, "db"]:
            result = app.test_cli_runner().invoke(args=[name, "--help"])
            assert result.exit_code == 0, (name, result.output)
            assert "Usage:" in result.output
            assert name in result.output


# seed


def test_seed_is_idempotent_in_testing(runner: FlaskCliRunner, db: SQLAlchemy) -> None:
    for _ in range(2):
        result = runner.invoke(args=["seed"])
        assert result.exit_code == 0, result.output
        assert "0 demo posts created" in result.output
    assert _role_names(db) == ["admin", "user"]
    assert count_rows("posts") == 0
    assert count_rows("users") == 0


def test_seed_in_development_adds_demo_posts_once(
    app_config: dict[str, Any], db: SQLAlchemy
) -> None:
    with built_app({**app_config, "APP_ENV": "development"}, "testing") as dev:
        assert get_settings(dev).APP_ENV == "development"
        first = _invoke(dev, "seed")
        second = _invoke(dev, "seed")
    assert first.exit_code == 0, first.output
    assert f"{len(DEMO_POSTS)} demo posts created" in first.output
    assert second.exit_code == 0, second.output
    assert "0 demo posts created" in second.output
    db.session.expire_all()
    assert _role_names(db) == ["admin", "user"]
    titles = sorted(db.session.scalars(sa.select(Post.title)))
    assert titles == sorted(title for title, _ in DEMO_POSTS)
    author = find_user(session=db.session, login=DEMO_AUTHOR)
    assert author is not None
    assert author.active is False
    assert count_rows("users") == 1


# create-admin


def _admin(db: SQLAlchemy, login: str) -> User:
    db.session.expire_all()
    user = find_user(session=db.session, login=login)
    assert user is not None
    return user


def test_create_admin_from_environment(runner: FlaskCliRunner, db: SQLAlchemy) -> None:
    result = runner.invoke(
        args=["create-admin", "root", "root@example.com"], env={"ADMIN_PASSWORD": ADMIN_PASSWORD}
    )
    assert result.exit_code == 0, result.output
    assert "Created admin root" in result.output
    assert ADMIN_PASSWORD not in result.output
    admin = _admin(db, "root")
    assert admin.role_names == ["admin", "user"]
    assert admin.email_verified is True
    assert admin.active is True
    assert verify_password(admin.password_hash, ADMIN_PASSWORD)[0] is True


def test_create_admin_from_password_file(
    runner: FlaskCliRunner, db: SQLAlchemy, tmp_path: Path
) -> None:
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n", encoding="utf-8")
    result = runner.invoke(
        args=["create-admin", "root", "root@example.com", "--password-file", str(password_file)]
    )
    assert result.exit_code == 0, result.output
    admin = _admin(db, "root@example.com")
    assert admin.role_names == ["admin", "user"]
    assert verify_password(admin.password_hash, ADMIN_PASSWORD)[0] is True
    assert verify_password(admin.password_hash, ADMIN_PASSWORD + "\n")[0] is False


def test_create_admin_from_admin_password_file_variable(
    runner: FlaskCliRunner, db: SQLAlchemy, tmp_path: Path
) -> None:
    password_file = tmp_path / "admin-password"
    password_file.write_text(ADMIN_PASSWORD + "\n", encoding="utf-8")
    result = runner.invoke(
        args=["create-admin", "root", "root@example.com"],
        env={"ADMIN_PASSWORD_FILE": str(password_file)},
    )
    assert result.exit_code == 0, result.output
    assert verify_password(_admin(db, "root").password_hash, ADMIN_PASSWORD)[0] is True


def _assert_refused(result: Any, message: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)
    assert message in result.output
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output


@pytest.mark.parametrize(
    ("args", "password", "message"),
    [
        (["_root", "root@example.com"], ADMIN_PASSWORD, "Username must be 3-32 characters"),
        (["ro", "root@example.com"], ADMIN_PASSWORD, "Username must be 3-32 characters"),
        (["root", "not-an-email"], ADMIN_PASSWORD, "email"),
        (["root", "root@example.com"], "short", "Password must be 8 to 128 characters."),
        (["root", "root@example.com"], "p" * 129, "Password must be 8 to 128 characters."),
    ],
    ids=["leading-underscore", "too-short-name", "bad-email", "short-password", "long-password"],
)
def test_create_admin_refuses_invalid_data(
    runner: FlaskCliRunner, db: SQLAlchemy, args: list[str], password: str, message: str
) -> None:
    result = runner.invoke(args=["create-admin", *args], env={"ADMIN_PASSWORD": password})
    _assert_refused(result, message)
    assert count_rows("users") == 0


def test_create_admin_refuses_duplicates(
    runner: FlaskCliRunner, db: SQLAlchemy, make_user: UserFactory
) -> None:
    make_user("root")
    env = {"ADMIN_PASSWORD": ADMIN_PASSWORD}
    result = runner.invoke(args=["create-admin", "ROOT", "other@example.com"], env=env)
    _assert_refused(result, "That username is already taken.")
    result = runner.invoke(args=["create-admin", "other", "Root@Example.com"], env=env)
    _assert_refused(result, "That email is already taken.")
    assert count_rows("users") == 1
    assert _admin(db, "root").role_names == ["user"]


def test_create_admin_without_a_password_source(runner: FlaskCliRunner, db: SQLAlchemy) -> None:
    result = runner.invoke(args=["create-admin", "root", "root@example.com"])
    _assert_refused(result, "No password given")
    assert count_rows("users") == 0


# reset-db


def test_reset_db_empties_data_and_migrates_to_head(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = fresh_database_url(backend, "flaskyard_reset", tmp_path)
    config = base_config(url, INSTANCE_DIR=tmp_path / "instance")
    with built_app(config) as app:
        assert _invoke(app, "db", "upgrade").exit_code == 0
        env = {"ADMIN_PASSWORD": ADMIN_PASSWORD}
        result = _invoke(app, "create-admin", "root", "root@example.com", env=env)
        assert result.exit_code == 0, result.output
        with app.app_context():
            assert count_rows("users") == 1
        result = _invoke(app, "reset-db", "--yes")
        assert result.exit_code == 0, result.output
        assert "reset" in result.output
        with app.app_context():
            for table in ("users", "roles", "user_roles", "posts"):
                assert count_rows(table) == 0, table
            versions = list(extension_db.session.scalars(sa.text(_VERSION_SQL)))
        assert versions == [_head()]


def test_reset_db_asks_first(
    runner: FlaskCliRunner, db: SQLAlchemy, make_user: UserFactory
) -> None:
    make_user("alice")
    result = runner.invoke(args=["reset-db"], input="n\n")
    assert result.exit_code != 0
    assert "Aborted" in result.output
    assert count_rows("users") == 1


def test_reset_db_refuses_production_without_force(
    app_config: dict[str, Any], db: SQLAlchemy, make_user: UserFactory
) -> None:
    make_user("alice")
    with built_app({**app_config, "APP_ENV": "production"}, "production") as production:
        assert get_settings(production).APP_ENV == "production"
        result = _invoke(production, "reset-db", "--yes")
    assert result.exit_code != 0
    assert "Refusing to reset a production database without --force." in result.output
    assert count_rows("users") == 1


# worker


@pytest.mark.parametrize("queues", ["nope", "high,nope", ","])
def test_worker_refuses_unknown_queues(runner: FlaskCliRunner, queues: str) -> None:
    result = runner.invoke(args=["worker", "--queues", queues])
    assert result.exit_code == 2
    assert "--queues" in result.output
    assert "Queues must be among high, default, low." in result.output


def test_worker_without_redis(app_config: dict[str, Any]) -> None:
    app_config.pop("REDIS_URL", None)
    with built_app(app_config) as app:
        result = _invoke(app, "worker", "--burst")
    assert result.exit_code != 0
    assert "REDIS_URL is not set" in result.output
