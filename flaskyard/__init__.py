"""Flaskyard: a production-ready Flask application. ``create_app()`` is the only entry point."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apiflask import APIFlask

from flaskyard import errors
from flaskyard.config import ConfigError, Settings, instance_secret, load_settings
from flaskyard.database import dispose_after_fork
from flaskyard.extensions import MIGRATIONS_DIR, db
from flaskyard.users.passwords import (
    EXTENSION_KEY as HASHER_KEY,
)
from flaskyard.users.passwords import (
    OWASP_PARAMETERS,
    TESTING_PARAMETERS,
    make_hasher,
)

__version__ = "0.1.0"
__all__ = ["MIGRATIONS_DIR", "build_app", "create_app"]
#: Room for multipart framing around the largest allowed upload.
UPLOAD_OVERHEAD_BYTES = 1024 * 1024


def create_app(
    overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
) -> APIFlask:
    """Build the app from the environment; a bad configuration exits with one sentence."""
    try:
        settings = load_settings(environ, overrides=overrides)
    except ConfigError as exc:
        sys.exit(f"flaskyard: configuration error: {exc}")
    return build_app(settings)


def _flask_config(app: APIFlask, settings: Settings) -> dict[str, Any]:
    instance = Path(app.instance_path)
    generated = settings.APP_ENV != "production"

    def secret(name: str) -> str:
        value = getattr(settings, name)
        if value is not None:
            return str(value.get_secret_value())
        if not generated:  # pragma: no cover - Settings already refuses this
            raise ConfigError(f"{name} is not set.")
        return instance_secret(instance, name.lower().replace("_", "-"))

    database_url = settings.DATABASE_URL or f"sqlite:///{instance / 'flaskyard.db'}"
    engine_options: dict[str, Any] = {"pool_pre_ping": True}
    if database_url.startswith("mysql") or database_url.startswith("mariadb"):
        engine_options["pool_recycle"] = 280
    return {
        "APP_ENV": settings.APP_ENV,
        "TESTING": settings.APP_ENV == "testing",
        "SECRET_KEY": secret("SECRET_KEY"),
        "JWT_SECRET_KEY": secret("JWT_SECRET_KEY"),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        "REDIS_URL": settings.REDIS_URL,
        "TOKEN_BLOCKLIST": settings.TOKEN_BLOCKLIST
        or ("redis" if settings.REDIS_URL else "database"),
        # Flask-JWT-Extended: pinned algorithm, always-expiring tokens, refresh cookie for the SPA.
        "JWT_ALGORITHM": settings.JWT_ALGORITHM,
        "JWT_DECODE_ALGORITHMS": [settings.JWT_ALGORITHM],
        "JWT_PRIVATE_KEY": (
            settings.JWT_PRIVATE_KEY.get_secret_value() if settings.JWT_PRIVATE_KEY else None
        ),
        "JWT_PUBLIC_KEY": settings.JWT_PUBLIC_KEY,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=settings.JWT_ACCESS_TOKEN_EXPIRES),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(seconds=settings.JWT_REFRESH_TOKEN_EXPIRES),
        "JWT_TOKEN_LOCATION": ["headers", "cookies"],
        "JWT_COOKIE_SECURE": True,
        "JWT_COOKIE_SAMESITE": "Strict",
        "JWT_COOKIE_CSRF_PROTECT": True,
        "JWT_SESSION_COOKIE": False,
        "JWT_REFRESH_COOKIE_PATH": "/api/v1/auth/",
        "JWT_REFRESH_CSRF_COOKIE_PATH": "/",
        "JWT_DECODE_LEEWAY": 0,
        "LOGIN_RATE_LIMIT_ACCOUNT": settings.LOGIN_RATE_LIMIT_ACCOUNT,
        "LOGIN_RATE_LIMIT_IP": settings.LOGIN_RATE_LIMIT_IP,
        "RATELIMIT_KEY_PREFIX": settings.RATELIMIT_KEY_PREFIX,
        "CORS_ORIGINS": settings.CORS_ORIGINS,
        "PUBLIC_URL": settings.PUBLIC_URL,
        "POSTS_CACHE": settings.POSTS_CACHE,
        "USER_UPLOAD_QUOTA_BYTES": settings.USER_UPLOAD_QUOTA_BYTES,
        "JOB_RESULT_TTL": settings.JOB_RESULT_TTL,
        "JOB_FAILURE_TTL": settings.JOB_FAILURE_TTL,
        "WORKER_INLINE_QUEUES": [
            name.strip() for name in settings.WORKER_INLINE_QUEUES.split(",") if name.strip()
        ],
        "WORKER_WITH_SCHEDULER": settings.WORKER_WITH_SCHEDULER,
        "WORKER_MONITOR_INTERVAL": settings.WORKER_MONITOR_INTERVAL,
        "WORKER_MAINTENANCE_INTERVAL": settings.WORKER_MAINTENANCE_INTERVAL,
        "IMPORT_MAX_ENTRIES": settings.IMPORT_MAX_ENTRIES,
        "IMPORT_MAX_BYTES": settings.IMPORT_MAX_BYTES,
        "IMPORT_MAX_RATIO": settings.IMPORT_MAX_RATIO,
        "UPLOAD_DIR": str(settings.UPLOAD_DIR or instance / "uploads"),
        "MAX_UPLOAD_BYTES": settings.MAX_UPLOAD_BYTES,
        "MAX_CONTENT_LENGTH": settings.MAX_UPLOAD_BYTES + UPLOAD_OVERHEAD_BYTES,
        "FRONTEND_DIR": str(settings.FRONTEND_DIR) if settings.FRONTEND_DIR else None,
        "MAIL_SERVER": settings.MAIL_SERVER,
        "MAIL_PORT": settings.MAIL_PORT,
        "MAIL_USE_TLS": settings.MAIL_USE_TLS,
        "MAIL_USERNAME": settings.MAIL_USERNAME,
        "MAIL_PASSWORD": settings.MAIL_PASSWORD.get_secret_value()
        if settings.MAIL_PASSWORD
        else None,
        "MAIL_DEFAULT_SENDER": settings.MAIL_DEFAULT_SENDER,
        "GUNICORN_PID_FILE": str(settings.GUNICORN_PID_FILE),
        "LOG_LEVEL": settings.LOG_LEVEL,
        "LOG_FORMAT": settings.log_format,
        # OpenAPI document metadata.
        "INFO": {"description": "The Flaskyard HTTP API. Errors are application/problem+json."},
        # The Swagger UI served at /api/docs (swagger-ui-bundle 4.x) renders OpenAPI 3.0 only.
        "OPENAPI_VERSION": "3.0.3",
        "HTTP_ERROR_SCHEMA": errors.PROBLEM_SCHEMA,
        "VALIDATION_ERROR_SCHEMA": errors.VALIDATION_PROBLEM_SCHEMA,
        "SECURITY_SCHEMES": {
            "BearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        },
    }


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # SQLite ignores foreign keys unless asked; WAL lets the web and worker processes overlap.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def build_app(settings: Settings) -> APIFlask:
    """Build the app from already validated settings."""
    from werkzeug.middleware.proxy_fix import ProxyFix

    from flaskyard import cli, dashboard, health, i18n, logging, queue, security
    from flaskyard.auth import revocation, throttle, tokens
    from flaskyard.auth.routes import bp as auth_bp
    from flaskyard.jobs.routes import bp as jobs_bp
    from flaskyard.ops import init_app as init_ops
    from flaskyard.posts.routes import bp as posts_bp
    from flaskyard.uploads.routes import bp as uploads_bp
    from flaskyard.users.routes import bp as users_bp
    from flaskyard.web.routes import ClientPathConverter, static_file
    from flaskyard.web.routes import bp as web_bp

    kwargs: dict[str, Any] = {}
    if settings.INSTANCE_DIR:
        kwargs["instance_path"] = str(settings.INSTANCE_DIR.resolve())
    app = APIFlask(
        __name__,
        title="Flaskyard API",
        version=__version__,
        spec_path="/api/openapi.json",
        docs_path="/api/docs",
        static_folder=None,  # type: ignore[arg-type]  # Flask accepts None: no /static route
        **kwargs,
    )
    app.config.from_mapping(_flask_config(app, settings))
    app.config["SETTINGS"] = settings
    app.debug = settings.APP_ENV == "development" and app.debug

    logging.configure_logging(settings.LOG_LEVEL, settings.log_format)
    logging.init_app(app)
    errors.init_app(app)

    params = TESTING_PARAMETERS if settings.APP_ENV == "testing" else OWASP_PARAMETERS
    app.extensions[HASHER_KEY] = make_hasher(**params)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite:///"):
        Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        dispose_after_fork(engine)
    queue.init_app(app)
    with app.app_context():
        app.extensions[revocation.EXTENSION_KEY] = revocation.make_store(
            app, db.engine, queue.get_redis()
        )
    tokens.init_app(app)
    throttle.init_app(app)
    security.init_app(app)
    if settings.PROXY_FIX_X_FOR:
        hops = settings.PROXY_FIX_X_FOR
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]

    app.register_blueprint(health.bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(users_bp)
    app.register_blueprint(posts_bp)
    app.register_blueprint(uploads_bp)
    app.register_blueprint(jobs_bp)
    dashboard.init_app(app)
    app.url_map.converters["client_path"] = ClientPathConverter
    app.register_blueprint(web_bp)
    app.add_url_rule("/static/<path:filename>", endpoint="static", view_func=static_file)
    i18n.init_app(app)
    cli.init_app(app)
    init_ops(app)
    return app
