"""Settings: defaults, modes, ``.env.d``, ``*_FILE``, Docker secrets and production checks."""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from flaskyard.boot.healthcheck import healthcheck
from flaskyard.config import ConfigError, Settings, load_settings
from flaskyard.devserver import free_port
from flaskyard.settings import get_settings
from tests.support import backends
from tests.support.apps import built_app
from tests.support.backends import ADMIN_URLS


def _good_secret() -> str:
    return secrets.token_urlsafe(32)


def _load(tmp_path: Path, **environ: str) -> Settings:
    return load_settings(environ, project_dir=tmp_path)


def _error(tmp_path: Path, **environ: str) -> str:
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, **environ)
    return str(info.value)


def _names(message: str, name: str) -> bool:
    """Whether ``message`` names ``name`` itself, not a longer name ending in it."""
    return re.search(rf"(?<![A-Z_]){re.escape(name)}(?![A-Z_])", message) is not None


# Defaults and modes


def test_defaults(tmp_path: Path) -> None:
    settings = _load(tmp_path)
    assert settings.APP_ENV == "development"
    assert settings.SECRET_KEY is None
    assert settings.JWT_SECRET_KEY is None
    assert settings.DATABASE_URL is None
    assert settings.REDIS_URL is None
    assert settings.TOKEN_BLOCKLIST is None
    assert settings.JWT_ACCESS_TOKEN_EXPIRES == 900
    assert settings.JWT_REFRESH_TOKEN_EXPIRES == 2_592_000
    assert settings.MAX_UPLOAD_BYTES == 10_485_760
    assert settings.LOG_LEVEL == "INFO"
    assert settings.log_format == "text"
    assert settings.SERVER == "gunicorn"


@pytest.mark.parametrize("mode", ["development", "production", "testing"])
def test_app_env_modes(tmp_path: Path, mode: str) -> None:
    good = _good_secret()
    settings = _load(tmp_path, APP_ENV=mode, SECRET_KEY=good, JWT_SECRET_KEY=_good_secret())
    assert settings.APP_ENV == mode


def test_app_env_is_case_insensitive(tmp_path: Path) -> None:
    assert _load(tmp_path, APP_ENV=" Testing ").APP_ENV == "testing"


def test_flask_env_is_an_alias(tmp_path: Path) -> None:
    assert _load(tmp_path, FLASK_ENV="testing").APP_ENV == "testing"


def test_app_env_wins_over_flask_env(tmp_path: Path) -> None:
    assert _load(tmp_path, APP_ENV="testing", FLASK_ENV="development").APP_ENV == "testing"


def test_invalid_mode_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, APP_ENV="staging")
    assert "APP_ENV" in message
    assert "staging" in message
    assert "development, production, testing" in message


def test_log_format_defaults_to_json_in_production(tmp_path: Path) -> None:
    settings = _load(
        tmp_path, APP_ENV="production", SECRET_KEY=_good_secret(), JWT_SECRET_KEY=_good_secret()
    )
    assert settings.log_format == "json"
    assert _load(tmp_path, LOG_FORMAT="json").log_format == "json"


def test_log_level_is_upper_cased(tmp_path: Path) -> None:
    assert _load(tmp_path, LOG_LEVEL="debug").LOG_LEVEL == "DEBUG"


# .env.d files


def _write_env_file(tmp_path: Path, mode: str, text: str) -> None:
    folder = tmp_path / ".env.d"
    folder.mkdir(exist_ok=True)
    (folder / f".env.{mode}").write_text(text, encoding="utf-8")


def test_env_file_of_the_mode_is_read(tmp_path: Path) -> None:
    _write_env_file(tmp_path, "testing", "REDIS_URL=redis://from-file:6379/0\nLOG_LEVEL=debug\n")
    settings = _load(tmp_path, APP_ENV="testing")
    assert settings.REDIS_URL == "redis://from-file:6379/0"
    assert settings.LOG_LEVEL == "DEBUG"


def test_real_environment_wins_over_env_file(tmp_path: Path) -> None:
    _write_env_file(tmp_path, "testing", "REDIS_URL=redis://from-file:6379/0\n")
    settings = _load(tmp_path, APP_ENV="testing", REDIS_URL="redis://from-env:6379/0")
    assert settings.REDIS_URL == "redis://from-env:6379/0"


def test_env_file_of_another_mode_is_ignored(tmp_path: Path) -> None:
    _write_env_file(tmp_path, "production", "REDIS_URL=redis://prod:6379/0\n")
    assert _load(tmp_path, APP_ENV="testing").REDIS_URL is None


# NAME_FILE and Docker secrets


def test_file_variant_reads_the_file(tmp_path: Path) -> None:
    secret = _good_secret()
    path = tmp_path / "secret_key"
    path.write_text(secret + "\n", encoding="utf-8")
    settings = _load(tmp_path, SECRET_KEY_FILE=str(path))
    assert settings.SECRET_KEY is not None
    assert settings.SECRET_KEY.get_secret_value() == secret


def test_file_variant_strips_only_one_trailing_newline(tmp_path: Path) -> None:
    path = tmp_path / "user"
    path.write_text("mailer\n\n", encoding="utf-8")
    assert _load(tmp_path, MAIL_USERNAME_FILE=str(path)).MAIL_USERNAME == "mailer\n"


def test_file_variant_works_for_any_setting(tmp_path: Path) -> None:
    path = tmp_path / "db_url"
    path.write_text("postgresql+psycopg://app@db/app\n", encoding="utf-8")
    assert _load(tmp_path, DATABASE_URL_FILE=str(path)).DATABASE_URL == (
        "postgresql+psycopg://app@db/app"
    )


def test_app_env_is_readable_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "app_env"
    path.write_text("testing\n", encoding="utf-8")
    assert _load(tmp_path, APP_ENV_FILE=str(path)).APP_ENV == "testing"


def test_missing_file_names_the_variable(tmp_path: Path) -> None:
    message = _error(tmp_path, SECRET_KEY_FILE=str(tmp_path / "nope"))
    assert "SECRET_KEY_FILE" in message
    assert "nope" in message


def test_value_and_file_together_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    path.write_text(_good_secret(), encoding="utf-8")
    message = _error(tmp_path, SECRET_KEY=_good_secret(), SECRET_KEY_FILE=str(path))
    assert message.startswith("Set either SECRET_KEY or SECRET_KEY_FILE")


def test_docker_secret_as_a_direct_value(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "run-secrets"
    secrets_dir.mkdir()
    (secrets_dir / "db_url").write_text("mysql+pymysql://app@db/app\n", encoding="utf-8")
    settings = _load(tmp_path, SECRETS_DIR=str(secrets_dir), DATABASE_URL="DOCKER-SECRET->db_url")
    assert settings.DATABASE_URL == "mysql+pymysql://app@db/app"


def test_docker_secret_inside_a_file(tmp_path: Path) -> None:
    secrets_dir = tmp_path / "run-secrets"
    secrets_dir.mkdir()
    (secrets_dir / "mail_password").write_text("hunter2-but-longer\n", encoding="utf-8")
    pointer = tmp_path / "mail_password_pointer"
    pointer.write_text("DOCKER-SECRET->mail_password\n", encoding="utf-8")
    settings = _load(tmp_path, SECRETS_DIR=str(secrets_dir), MAIL_PASSWORD_FILE=str(pointer))
    assert settings.MAIL_PASSWORD is not None
    assert settings.MAIL_PASSWORD.get_secret_value() == "hunter2-but-longer"


def test_missing_docker_secret_names_the_variable(tmp_path: Path) -> None:
    message = _error(tmp_path, SECRETS_DIR=str(tmp_path), JWT_SECRET_KEY="DOCKER-SECRET->absent")
    assert _names(message, "JWT_SECRET_KEY")
    assert "absent" in message


@pytest.mark.parametrize("name", ["../x", "a/b", "/etc/passwd", ".hidden", ""])
def test_invalid_docker_secret_name_is_refused(tmp_path: Path, name: str) -> None:
    (tmp_path / "x").write_text("should never be read", encoding="utf-8")
    secrets_dir = tmp_path / "run-secrets"
    secrets_dir.mkdir()
    message = _error(tmp_path, SECRETS_DIR=str(secrets_dir), SECRET_KEY=f"DOCKER-SECRET->{name}")
    assert _names(message, "SECRET_KEY")
    assert "invalid Docker secret" in message


def test_text_that_merely_contains_the_prefix_is_kept(tmp_path: Path) -> None:
    value = "prefix DOCKER-SECRET->x"
    assert _load(tmp_path, MAIL_USERNAME=value).MAIL_USERNAME == value


# Production secrets


@pytest.mark.parametrize("name", ["SECRET_KEY", "JWT_SECRET_KEY"])
@pytest.mark.parametrize(
    ("value", "problem"),
    [
        (None, "is not set"),
        ("", "is not set"),
        ("short-but-random-Xy7", "shorter than 32 bytes"),
        ("changeme" * 4, "placeholder"),
        ("please-change-me-" * 2, "placeholder"),
        ("a" * 40, "placeholder"),
        ("abab" * 10, "placeholder"),
    ],
    ids=["missing", "empty", "short", "changeme", "please-change-me", "repeated", "two-chars"],
)
def test_production_refuses_weak_secrets(
    tmp_path: Path, name: str, value: str | None, problem: str
) -> None:
    environ = {"APP_ENV": "production", "SECRET_KEY": _good_secret()}
    environ["JWT_SECRET_KEY"] = _good_secret()
    if value is None:
        del environ[name]
    else:
        environ[name] = value
    message = _error(tmp_path, **environ)
    assert _names(message, name)
    assert problem in message
    assert "production" in message


def test_production_accepts_two_good_secrets(tmp_path: Path) -> None:
    key, jwt_key = _good_secret(), _good_secret()
    settings = _load(tmp_path, APP_ENV="production", SECRET_KEY=key, JWT_SECRET_KEY=jwt_key)
    assert settings.SECRET_KEY is not None and settings.JWT_SECRET_KEY is not None
    assert settings.SECRET_KEY.get_secret_value() == key
    assert settings.JWT_SECRET_KEY.get_secret_value() == jwt_key


def test_weak_secrets_are_fine_outside_production(tmp_path: Path) -> None:
    settings = _load(tmp_path, APP_ENV="testing", SECRET_KEY="dev", JWT_SECRET_KEY="dev")
    assert settings.SECRET_KEY is not None
    assert settings.SECRET_KEY.get_secret_value() == "dev"


def test_production_refusal_from_the_command_line(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECRET_KEY", "JWT_SECRET_KEY", "FLASK_", "APP_ENV"))
    }
    env["APP_ENV"] = "production"
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "flaskyard", "routes"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "SECRET_KEY" in lines[0]
    assert "Traceback" not in result.stderr + result.stdout


# Aliases


def test_blacklist_storage_type_is_an_alias(tmp_path: Path) -> None:
    assert _load(tmp_path, BLACKLIST_STORAGE_TYPE="memory").TOKEN_BLOCKLIST == "memory"


def test_new_name_wins_over_alias(tmp_path: Path) -> None:
    settings = _load(tmp_path, TOKEN_BLOCKLIST="database", BLACKLIST_STORAGE_TYPE="memory")
    assert settings.TOKEN_BLOCKLIST == "database"


@pytest.mark.parametrize("alias", ["FLASK_STATIC_DIR", "FLASK_TEMPLATE_DIR"])
def test_frontend_dir_aliases(tmp_path: Path, alias: str) -> None:
    assert _load(tmp_path, **{alias: str(tmp_path / "dist")}).FRONTEND_DIR == tmp_path / "dist"


def test_invalid_token_blocklist_is_refused(tmp_path: Path) -> None:
    assert "TOKEN_BLOCKLIST" in _error(tmp_path, TOKEN_BLOCKLIST="postgres")


# Typed values


def test_bad_integer_is_one_sentence(tmp_path: Path) -> None:
    message = _error(tmp_path, MAX_UPLOAD_BYTES="abc")
    assert "MAX_UPLOAD_BYTES" in message
    assert "integer" in message
    assert "\n" not in message
    assert message.endswith(".")
    assert ". " not in message
    assert "pydantic" not in message


@pytest.mark.parametrize("value", ["0", "-5"])
def test_refresh_token_lifetime_must_be_positive(tmp_path: Path, value: str) -> None:
    message = _error(tmp_path, JWT_REFRESH_TOKEN_EXPIRES=value)
    assert "JWT_REFRESH_TOKEN_EXPIRES" in message
    assert "\n" not in message


def test_integers_are_parsed(tmp_path: Path) -> None:
    settings = _load(tmp_path, MAX_UPLOAD_BYTES="2048", JWT_ACCESS_TOKEN_EXPIRES="60")
    assert settings.MAX_UPLOAD_BYTES == 2048
    assert settings.JWT_ACCESS_TOKEN_EXPIRES == 60


def test_blank_database_url_means_unset(tmp_path: Path) -> None:
    assert _load(tmp_path, DATABASE_URL="  ").DATABASE_URL is None


def test_overrides_win_over_environment(tmp_path: Path) -> None:
    settings = load_settings(
        {"REDIS_URL": "redis://env/0"}, project_dir=tmp_path, overrides={"REDIS_URL": "redis://o/0"}
    )
    assert settings.REDIS_URL == "redis://o/0"


# Generated development secrets


def test_development_secrets_are_generated_once_per_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env.d from the checkout
    instance = tmp_path / "instance"
    config = {
        "APP_ENV": "development",
        "INSTANCE_DIR": instance,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'dev.db'}",
        "LOG_LEVEL": "WARNING",
    }
    with built_app(config, "development") as first, built_app(config, "development") as second:
        assert first.config["SECRET_KEY"] == second.config["SECRET_KEY"]
        assert first.config["JWT_SECRET_KEY"] == second.config["JWT_SECRET_KEY"]
        assert first.config["SECRET_KEY"] != first.config["JWT_SECRET_KEY"]
        assert len(first.config["SECRET_KEY"].encode()) >= 32
    files = [instance / "secret-key", instance / "jwt-secret-key"]
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    other = {**config, "INSTANCE_DIR": tmp_path / "other"}
    with built_app(other, "development") as third, built_app(config, "development") as again:
        assert third.config["SECRET_KEY"] != again.config["SECRET_KEY"]


def test_app_defaults_without_redis(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    config = {"INSTANCE_DIR": tmp_path / "instance", "LOG_LEVEL": "WARNING"}
    with built_app(config, "development") as application:
        instance = Path(application.instance_path)
        assert application.config["SQLALCHEMY_DATABASE_URI"] == f"sqlite:///{instance}/flaskyard.db"
        assert get_settings(application).token_store == "database"
        assert str(get_settings(application).upload_dir) == str(instance / "uploads")
        assert get_settings(application).MAX_UPLOAD_BYTES == 10_485_760
        assert application.config["MAX_CONTENT_LENGTH"] > get_settings(application).MAX_UPLOAD_BYTES


def test_token_blocklist_defaults_to_redis_with_redis(tmp_path: Path) -> None:
    config = {
        "INSTANCE_DIR": tmp_path / "instance",
        "DATABASE_URL": f"sqlite:///{tmp_path / 't.db'}",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "LOG_LEVEL": "WARNING",
    }
    with built_app(config) as application:
        assert get_settings(application).token_store == "redis"


# DATABASE_URL and REDIS_URL from their parts (POSTGRES_*, REDIS_*)


def test_database_url_from_its_parts_quotes_the_password(tmp_path: Path) -> None:
    password = "p@ss:w/rd%#?"
    settings = _load(
        tmp_path,
        POSTGRES_USER="app",
        POSTGRES_PASSWORD=password,
        POSTGRES_HOST="db.example",
        POSTGRES_PORT="6543",
        POSTGRES_NAME="flaskyard",
    )
    assert settings.DATABASE_URL is not None
    url = sa.make_url(settings.DATABASE_URL)
    assert (url.drivername, url.username, url.password) == ("postgresql+psycopg", "app", password)
    assert (url.host, url.port, url.database) == ("db.example", 6543, "flaskyard")


def test_database_url_parts_have_defaults(tmp_path: Path) -> None:
    settings = _load(tmp_path, POSTGRES_HOST="db")
    assert settings.DATABASE_URL == "postgresql+psycopg://postgres@db:5432/postgres"


def test_redis_url_from_its_parts_reads_the_password_file(tmp_path: Path) -> None:
    path = tmp_path / "redis_password"
    path.write_text("s3cret/with:odd@chars\n", encoding="utf-8")
    settings = _load(
        tmp_path,
        REDIS_HOST="cache",
        REDIS_PORT="6380",
        REDIS_DB_INDEX="3",
        REDIS_PASSWORD_FILE=str(path),
    )
    assert settings.REDIS_URL == "redis://:s3cret%2Fwith%3Aodd%40chars@cache:6380/3"
    assert settings.token_store == "redis"


@pytest.mark.parametrize(
    ("url", "part"),
    [("DATABASE_URL", "POSTGRES_HOST"), ("REDIS_URL", "REDIS_HOST")],
)
def test_url_and_its_parts_together_are_refused(tmp_path: Path, url: str, part: str) -> None:
    message = _error(tmp_path, **{url: "redis://x/0", part: "db"})
    assert message == f"Set either {url} or its parts ({part}), not both."


def test_a_part_that_is_not_a_number_is_refused(tmp_path: Path) -> None:
    message = _error(tmp_path, REDIS_HOST="cache", REDIS_PORT="six")
    assert _names(message, "REDIS_PORT")
    assert "six" in message


@backends.on("postgres")
def test_database_url_built_from_parts_reaches_the_server(tmp_path: Path, backend: str) -> None:
    real = sa.make_url(ADMIN_URLS["postgres"])
    parts = {
        "POSTGRES_USER": real.username or "postgres",
        "POSTGRES_HOST": real.host or "127.0.0.1",
        "POSTGRES_PORT": str(real.port or 5432),
        "POSTGRES_NAME": real.database or "postgres",
    }
    if real.password:
        parts["POSTGRES_PASSWORD"] = real.password
    settings = _load(tmp_path, **parts)
    assert settings.DATABASE_URL is not None
    engine = sa.create_engine(settings.DATABASE_URL, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            assert connection.scalar(sa.text("SELECT current_database()")) == parts["POSTGRES_NAME"]
    finally:
        engine.dispose()


def test_worker_healthcheck_builds_the_redis_url_from_its_parts(
    monkeypatch: pytest.MonkeyPatch, redis_url: str
) -> None:
    real = urlsplit(redis_url)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("REDIS_HOST", real.hostname or "127.0.0.1")
    monkeypatch.setenv("REDIS_PORT", str(real.port or 6379))
    assert healthcheck("worker") == 0
    monkeypatch.setenv("REDIS_PORT", str(free_port()))
    assert healthcheck("worker") == 1
