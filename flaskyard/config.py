"""Typed settings, validated: checks, derived values, load_settings (sources: environment.py)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from flaskyard.environment import ALIASES as ALIASES
from flaskyard.environment import DOCKER_SECRET_PREFIX as DOCKER_SECRET_PREFIX
from flaskyard.environment import MIN_SECRET_BYTES as MIN_SECRET_BYTES
from flaskyard.environment import MODES as MODES
from flaskyard.environment import URL_COMPONENTS
from flaskyard.environment import ConfigError as ConfigError
from flaskyard.environment import expand_setting as expand_setting
from flaskyard.environment import expand_url as expand_url
from flaskyard.environment import instance_secret as instance_secret
from flaskyard.environment import layered_environment as layered_environment
from flaskyard.environment import resolve_mode as resolve_mode
from flaskyard.environment import secret_problem as secret_problem

Mode = Literal["development", "production", "testing"]
#: Room for multipart framing around the largest allowed upload.
UPLOAD_OVERHEAD_BYTES = 1024 * 1024


class Settings(BaseSettings):
    """Every setting Flaskyard reads, typed and validated once at start."""

    model_config = SettingsConfigDict(extra="ignore", case_sensitive=True, frozen=True)

    APP_ENV: Mode = "development"
    SECRET_KEY: SecretStr | None = None
    JWT_SECRET_KEY: SecretStr | None = None
    DATABASE_URL: str | None = None
    REDIS_URL: str | None = None
    POSTGRES_USER: str | None = Field(
        default=None, description="With the other POSTGRES_* parts, builds DATABASE_URL."
    )
    POSTGRES_PASSWORD: SecretStr | None = Field(
        default=None, description="Part of DATABASE_URL when that is unset (URL-quoted)."
    )
    POSTGRES_HOST: str | None = Field(
        default=None, description="Part of DATABASE_URL when that is unset (default localhost)."
    )
    POSTGRES_PORT: int | None = Field(
        default=None, gt=0, lt=65536, description="Part of DATABASE_URL (default 5432)."
    )
    POSTGRES_NAME: str | None = Field(
        default=None, description="Part of DATABASE_URL: the database (default the user)."
    )
    REDIS_HOST: str | None = Field(
        default=None, description="With the other REDIS_* parts, builds REDIS_URL."
    )
    REDIS_PASSWORD: SecretStr | None = Field(
        default=None, description="Part of REDIS_URL when that is unset (URL-quoted)."
    )
    REDIS_PORT: int | None = Field(
        default=None, gt=0, lt=65536, description="Part of REDIS_URL (default 6379)."
    )
    REDIS_DB_INDEX: int | None = Field(
        default=None, ge=0, description="Part of REDIS_URL: the database index (default 0)."
    )
    TOKEN_BLOCKLIST: Literal["memory", "redis", "database"] | None = None
    JWT_ACCESS_TOKEN_EXPIRES: int = Field(default=900, gt=0)
    JWT_REFRESH_TOKEN_EXPIRES: int = Field(default=2_592_000, gt=0)
    JWT_ALGORITHM: Literal["HS256", "HS384", "HS512", "RS256", "RS512", "ES256", "EdDSA"] = "HS256"
    JWT_PRIVATE_KEY: SecretStr | None = None
    JWT_PUBLIC_KEY: str | None = None
    LOGIN_RATE_LIMIT_ACCOUNT: str = "10 per 15 minutes"
    LOGIN_RATE_LIMIT_IP: str = "60 per minute"
    RATELIMIT_KEY_PREFIX: str = "flaskyard"
    CORS_ORIGINS: str = ""
    PROXY_FIX_X_FOR: int = Field(default=0, ge=0, le=5)
    PUBLIC_URL: str = "http://127.0.0.1:5000"
    REQUIRE_VERIFIED_EMAIL: bool | None = None
    DEV_MAILBOX: bool | None = None
    POSTS_CACHE: bool = True
    #: argon2 computations at once on the machine, all worker processes together (None: CPUs).
    PASSWORD_HASH_CONCURRENCY: int | None = Field(default=None, gt=0)
    #: Sign-ins per process that may wait for a slot (1 + this are admitted); more get 503.
    PASSWORD_HASH_QUEUE: int = Field(default=1, ge=0)
    #: Seconds a sign-in waits for a slot before it is refused with 503.
    PASSWORD_HASH_WAIT: float = Field(default=2.0, gt=0)
    USER_UPLOAD_QUOTA_BYTES: int = Field(default=104_857_600, gt=0)
    JOB_RESULT_TTL: int = Field(default=7 * 24 * 3600, gt=0)
    JOB_FAILURE_TTL: int = Field(default=7 * 24 * 3600, gt=0)
    JOB_MAX_ACTIVE_PER_USER: int = Field(default=10, gt=0)
    EVENTS_MAX_STREAMS_PER_USER: int = Field(
        default=20,
        gt=0,
        description="Job event streams one user may have open at once, across every process; "
        "one more is 429.",
    )
    WORKER_INLINE_QUEUES: str = "high,default"
    WORKER_WITH_SCHEDULER: bool = True
    WORKER_MONITOR_INTERVAL: int = Field(
        default=3, gt=0, description="Seconds between the heartbeats of a running job."
    )
    WORKER_HEARTBEAT_GRACE: int = Field(
        default=6,
        gt=0,
        description="Seconds beyond WORKER_MONITOR_INTERVAL a running job may miss heartbeats "
        "(a dead worker, a Redis outage) before another worker retries or fails it.",
    )
    WORKER_MAINTENANCE_INTERVAL: int = Field(
        default=5,
        gt=0,
        description="Seconds between a worker's maintenance passes: abandoned jobs are "
        "reaped and job rows reconciled with RQ.",
    )
    IMPORT_MAX_ENTRIES: int = Field(default=1000, gt=0)
    IMPORT_MAX_BYTES: int = Field(default=50 * 1024 * 1024, gt=0)
    IMPORT_MAX_RATIO: int = Field(default=100, gt=1)
    IMPORT_MAX_POSTS: int = Field(
        default=1000,
        gt=0,
        description="Posts one import job creates at most; the result counts the items left "
        "over, which importing the same file again picks up.",
    )
    INSTANCE_DIR: Path | None = None
    UPLOAD_DIR: Path | None = None
    MAX_UPLOAD_BYTES: int = Field(default=10_485_760, gt=0)
    MAX_JSON_BYTES: int = Field(default=1_048_576, gt=0)
    DATABASE_RETRY_AFTER: int = Field(default=5, gt=0)
    MAIL_SERVER: str | None = None
    MAIL_PORT: int = Field(default=25, gt=0, lt=65536)
    MAIL_USE_TLS: bool = False
    MAIL_USERNAME: str | None = None
    MAIL_PASSWORD: SecretStr | None = None
    MAIL_DEFAULT_SENDER: str = "flaskyard@localhost"
    FRONTEND_DIR: Path | None = None
    PORT: int = Field(
        default=5000, gt=0, lt=65536, description="The port `make run` serves the app on."
    )
    GUNICORN_BIND: str = "127.0.0.1:5000"
    DASHBOARD_BIND: str | None = Field(
        default=None,
        description="Where the dashboard role listens; unset: GUNICORN_BIND's host, port 5555.",
    )
    GUNICORN_WORKERS: int | None = Field(default=None, gt=0)
    GUNICORN_THREADS: int | None = Field(default=None, gt=0)
    GUNICORN_PID_FILE: Path = Path("/tmp/gunicorn.pid")  # noqa: S108 - gunicorn's own convention
    SERVER: Literal["gunicorn", "granian"] = "gunicorn"
    LOG_LEVEL: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"
    LOG_FORMAT: Literal["text", "json"] | None = None
    METRICS_TOKEN: SecretStr | None = None
    WORKER_METRICS_PORT: int | None = Field(default=None, gt=0, lt=65536)
    WORKER_METRICS_HOST: str = "127.0.0.1"
    SENTRY_DSN: SecretStr | None = None
    SENTRY_TRACES_SAMPLE_RATE: float = Field(default=0.0, ge=0.0, le=1.0)

    @field_validator("LOG_LEVEL", mode="before")
    @classmethod
    def _upper_level(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator(
        "DATABASE_URL", "REDIS_URL", "MAIL_SERVER", "METRICS_TOKEN", "SENTRY_DSN", mode="before"
    )
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        return None if isinstance(value, str) and not value.strip() else value

    @model_validator(mode="after")
    def _token_keys(self) -> Settings:
        if not self.JWT_ALGORITHM.startswith("HS") and not (
            self.JWT_PRIVATE_KEY and self.JWT_PUBLIC_KEY
        ):
            raise ValueError(
                f"JWT_ALGORITHM={self.JWT_ALGORITHM} needs JWT_PRIVATE_KEY and JWT_PUBLIC_KEY "
                "(PEM, usually given as JWT_PRIVATE_KEY_FILE and JWT_PUBLIC_KEY_FILE)."
            )
        return self

    @model_validator(mode="after")
    def _production_memory_blocklist(self) -> Settings:
        if (
            self.APP_ENV == "production"
            and self.TOKEN_BLOCKLIST == "memory"  # noqa: S105 - a store name
            and (self.GUNICORN_WORKERS or 2) > 1
        ):
            raise ValueError(
                "TOKEN_BLOCKLIST=memory is per process; production with more than one worker "
                "needs redis or database."
            )
        return self

    @model_validator(mode="after")
    def _metrics_token(self) -> Settings:
        token = self.METRICS_TOKEN.get_secret_value() if self.METRICS_TOKEN else None
        if token is not None and self.APP_ENV == "production" and secret_problem(token):
            raise ValueError(
                f"METRICS_TOKEN {secret_problem(token)}; use a random value of at least "
                f"{MIN_SECRET_BYTES} bytes, or leave it unset to turn /metrics off."
            )
        return self

    @model_validator(mode="after")
    def _production_secrets(self) -> Settings:
        if self.APP_ENV != "production":
            return self
        for name in ("SECRET_KEY", "JWT_SECRET_KEY"):
            value: SecretStr | None = getattr(self, name)
            problem = secret_problem(value.get_secret_value() if value is not None else None)
            if problem:
                raise ValueError(f"{name} {problem}; production refuses to start without it.")
        return self

    @model_validator(mode="after")
    def _production_mailbox(self) -> Settings:
        if self.APP_ENV == "production" and self.DEV_MAILBOX:
            raise ValueError(
                "DEV_MAILBOX serves every mail, sign-in links included, without authentication; "
                "production refuses it."
            )
        return self

    @property
    def require_verified_email(self) -> bool:
        """Whether unverified accounts are kept from writing; on by default in production."""
        if self.REQUIRE_VERIFIED_EMAIL is None:
            return self.APP_ENV == "production"
        return self.REQUIRE_VERIFIED_EMAIL

    @property
    def dev_mailbox(self) -> bool:
        """Whether delivered mail is also kept for ``GET /api/v1/dev/mail``; development only."""
        if self.DEV_MAILBOX is None:
            return self.APP_ENV == "development"
        return self.DEV_MAILBOX

    @property
    def log_format(self) -> str:
        """The log format, JSON lines by default in production."""
        if self.LOG_FORMAT:
            return self.LOG_FORMAT
        return "json" if self.APP_ENV == "production" else "text"

    @property
    def production(self) -> bool:
        """Whether this is a production deployment (HSTS, secure cookies, strict secrets)."""
        return self.APP_ENV == "production"

    @property
    def testing(self) -> bool:
        """Whether the test suite runs (cheap password hashing, Flask's TESTING)."""
        return self.APP_ENV == "testing"

    @property
    def token_store(self) -> str:
        """Where revoked tokens live: ``TOKEN_BLOCKLIST``, else Redis when there is one."""
        return self.TOKEN_BLOCKLIST or ("redis" if self.REDIS_URL else "database")

    @property
    def inline_queues(self) -> frozenset[str]:
        """The queues whose jobs run inside the worker process (no fork per job)."""
        return frozenset(n.strip() for n in self.WORKER_INLINE_QUEUES.split(",") if n.strip())

    @property
    def cors_origins(self) -> list[str]:
        """The origins allowed to call the API from a browser (none by default)."""
        return [origin.strip() for origin in self.CORS_ORIGINS.split(",") if origin.strip()]

    @property
    def max_content_length(self) -> int:
        """The largest request body: the largest upload plus its multipart framing."""
        return self.MAX_UPLOAD_BYTES + UPLOAD_OVERHEAD_BYTES

    @property
    def instance_dir(self) -> Path:
        """The instance folder; the app factory resolves it into ``INSTANCE_DIR``."""
        if self.INSTANCE_DIR is None:
            raise ConfigError("INSTANCE_DIR is resolved by the app factory; build an app first.")
        return self.INSTANCE_DIR

    @property
    def database_uri(self) -> str:
        """``DATABASE_URL``, else a SQLite file in the instance folder."""
        return self.DATABASE_URL or f"sqlite:///{self.instance_dir / 'flaskyard.db'}"

    @property
    def upload_dir(self) -> Path:
        """Where uploaded files are stored: ``UPLOAD_DIR``, else ``uploads`` in the instance."""
        return self.UPLOAD_DIR or self.instance_dir / "uploads"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The environment has already been layered and expanded by load_settings().
        return (init_settings,)


def setting_names() -> tuple[str, ...]:
    """The names of every setting, each also readable from ``NAME_FILE``."""
    return tuple(Settings.model_fields)


def expand_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """Apply aliases, ``NAME_FILE`` and ``DOCKER-SECRET->name`` to the settings in ``environ``.

    Only the names Settings knows are returned, so unrelated variables never leak in.
    ``DATABASE_URL`` and ``REDIS_URL`` may also be built from their component variables.
    """
    values: dict[str, str] = {}
    for name in setting_names():
        if name in URL_COMPONENTS:
            value = expand_url(name, environ)
        else:
            value = expand_setting(name, environ)
        if value is not None:
            values[name] = value
    return values


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = str(first["msg"]).removeprefix("Value error, ")
    if not location:
        return message
    return f"{location}: {message.rstrip('.')}."


def load_settings(
    environ: Mapping[str, str] | None = None,
    *,
    project_dir: Path | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build Settings from the environment (``os.environ`` by default) and optional overrides."""
    source = os.environ if environ is None else environ
    values: dict[str, Any] = expand_environment(layered_environment(source, project_dir))
    if overrides:
        values.update(overrides)
    try:
        return Settings(**values)
    except ValidationError as exc:
        raise ConfigError(f"Invalid configuration: {_describe(exc)}") from exc
