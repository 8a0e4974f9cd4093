"""The app factory: one typed Settings in, a wired APIFlask app out."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from apiflask import APIFlask
from flask.cli import FlaskGroup
from werkzeug.middleware.proxy_fix import ProxyFix

from flaskyard import (
    admin,
    broker,
    cli,
    errors,
    health,
    i18n,
    inputs,
    logs,
    metrics,
    openapi,
    security,
)
from flaskyard import settings as app_settings
from flaskyard.account.routes import bp as account_bp
from flaskyard.auth import revocation, throttle, tokens
from flaskyard.auth.routes import bp as auth_bp
from flaskyard.config import ConfigError, Settings, instance_secret, load_settings
from flaskyard.core.machine import available_cpus, shared_directory
from flaskyard.core.problems import PROBLEM_SCHEMA, VALIDATION_PROBLEM_SCHEMA, problem
from flaskyard.database import dispose_after_fork, ping_when_idle, remove_session
from flaskyard.devmail.routes import bp as devmail_bp
from flaskyard.extensions import db
from flaskyard.jobs import reactions
from flaskyard.jobs.routes import bp as jobs_bp
from flaskyard.posts import cache as posts_cache
from flaskyard.posts.routes import bp as posts_bp
from flaskyard.sentry import init_sentry
from flaskyard.uploads.routes import bp as uploads_bp
from flaskyard.users.passwords import EXTENSION_KEY as HASHER_KEY
from flaskyard.users.passwords import GATE_KEY as HASH_GATE_KEY
from flaskyard.users.passwords import (
    OWASP_PARAMETERS,
    TESTING_PARAMETERS,
    HashGate,
    HashingBusyError,
    make_hasher,
)
from flaskyard.users.routes import bp as users_bp
from flaskyard.web.routes import ClientPathConverter, static_file
from flaskyard.web.routes import bp as web_bp

VERSION = "0.1.0"


def load_or_exit(
    overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Settings from the environment; a bad configuration exits with one sentence."""
    try:
        return load_settings(environ, overrides=overrides)
    except ConfigError as exc:
        sys.exit(f"flaskyard: configuration error: {exc}")


def create_app(
    overrides: Mapping[str, Any] | None = None, *, environ: Mapping[str, str] | None = None
) -> APIFlask:
    """Build the app from the environment; a bad configuration exits with one sentence."""
    return build_app(load_or_exit(overrides, environ=environ))


def _flask_config(settings: Settings) -> dict[str, Any]:
    """The keys Flask and its extensions read from ``app.config`` (ours stay in Settings)."""

    def secret(name: str) -> str:
        value = getattr(settings, name)
        if value is not None:
            return str(value.get_secret_value())
        if settings.production:  # pragma: no cover - Settings already refuses this
            raise ConfigError(f"{name} is not set.")
        return instance_secret(settings.instance_dir, name.lower().replace("_", "-"))

    database_uri = settings.database_uri
    # No pool_pre_ping: ping_when_idle (below) pings only connections that sat idle.
    engine_options: dict[str, Any] = {}
    if database_uri.startswith(("mysql", "mariadb")):
        engine_options["pool_recycle"] = 280
    return {
        "TESTING": settings.testing,
        "SECRET_KEY": secret("SECRET_KEY"),
        "MAX_CONTENT_LENGTH": settings.max_content_length,
        "SQLALCHEMY_DATABASE_URI": database_uri,
        "SQLALCHEMY_ENGINE_OPTIONS": engine_options,
        # Flask-JWT-Extended: pinned algorithm, always-expiring tokens, refresh cookie for the SPA.
        "JWT_SECRET_KEY": secret("JWT_SECRET_KEY"),
        "JWT_ALGORITHM": settings.JWT_ALGORITHM,
        "JWT_DECODE_ALGORITHMS": [settings.JWT_ALGORITHM],
        "JWT_PRIVATE_KEY": (
            settings.JWT_PRIVATE_KEY.get_secret_value() if settings.JWT_PRIVATE_KEY else None
        ),
        "JWT_PUBLIC_KEY": settings.JWT_PUBLIC_KEY,
        "JWT_ACCESS_TOKEN_EXPIRES": timedelta(seconds=settings.JWT_ACCESS_TOKEN_EXPIRES),
        "JWT_REFRESH_TOKEN_EXPIRES": timedelta(seconds=settings.JWT_REFRESH_TOKEN_EXPIRES),
        "JWT_TOKEN_LOCATION": ["headers", "cookies"],
        # Plain http://127.0.0.1 in development (`make run`): not every browser stores a Secure
        # cookie sent over http, even from a loopback address.
        "JWT_COOKIE_SECURE": settings.APP_ENV != "development",
        "JWT_COOKIE_SAMESITE": "Strict",
        "JWT_COOKIE_CSRF_PROTECT": True,
        "JWT_SESSION_COOKIE": False,
        "JWT_REFRESH_COOKIE_PATH": "/api/v1/auth/",
        "JWT_REFRESH_CSRF_COOKIE_PATH": "/",
        "JWT_DECODE_LEEWAY": 0,
        "RATELIMIT_KEY_PREFIX": settings.RATELIMIT_KEY_PREFIX,
        # APIFlask: OpenAPI document metadata.
        "INFO": {"description": "The Flaskyard HTTP API. Errors are application/problem+json."},
        # The Swagger UI served at /api/docs (swagger-ui-bundle 4.x) renders OpenAPI 3.0 only.
        "OPENAPI_VERSION": "3.0.3",
        "HTTP_ERROR_SCHEMA": PROBLEM_SCHEMA,
        "VALIDATION_ERROR_SCHEMA": VALIDATION_PROBLEM_SCHEMA,
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


def build_base(settings: Settings) -> APIFlask:
    """What every serving process needs: settings, errors, database, Redis, tokens, health."""
    kwargs: dict[str, Any] = {}
    if settings.INSTANCE_DIR:
        kwargs["instance_path"] = str(settings.INSTANCE_DIR.resolve())
    app = APIFlask(
        "flaskyard",
        title="Flaskyard API",
        version=VERSION,
        spec_path="/api/openapi.json",
        docs_path="/api/docs",
        static_folder=None,  # type: ignore[arg-type]  # Flask accepts None: no /static route
        **kwargs,
    )
    # From here on the instance folder is known, so the derived paths are too.
    settings = settings.model_copy(update={"INSTANCE_DIR": Path(app.instance_path)})
    app_settings.init_app(app, settings)
    app.config.from_mapping(_flask_config(settings))
    app.debug = settings.APP_ENV == "development" and app.debug

    logs.configure_logging(settings.LOG_LEVEL, settings.log_format)
    init_sentry(settings, release=VERSION)
    logs.init_app(app)
    metrics.init_app(app)
    errors.init_app(app)
    openapi.init_app(app)
    i18n.init_app(app)  # problem titles are translated, in every role

    params = TESTING_PARAMETERS if settings.testing else OWASP_PARAMETERS
    app.extensions[HASHER_KEY] = make_hasher(**params)
    app.extensions[HASH_GATE_KEY] = HashGate(
        slots=settings.PASSWORD_HASH_CONCURRENCY or available_cpus(),
        queue=settings.PASSWORD_HASH_QUEUE,
        wait=settings.PASSWORD_HASH_WAIT,
        # Shared by every process of the app on this machine; a test's app keeps its own.
        slot_dir=(
            settings.instance_dir / "hash-slots"
            if settings.testing
            else shared_directory("argon2-slots")
        ),
    )
    app.register_error_handler(
        HashingBusyError,
        lambda exc: problem(
            503,
            "Too many sign-ins are being checked right now; try again in a moment.",
            headers={"Retry-After": str(exc.retry_after)},
        ),
    )

    if settings.database_uri.startswith("sqlite:///"):
        settings.instance_dir.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    # Runs before Flask-SQLAlchemy's own teardown (last registered, first run), which then
    # finds no session left to close.
    app.teardown_appcontext(lambda _exc: remove_session(db.session))
    with app.app_context():
        engine = db.engine
        if engine.dialect.name == "sqlite":
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        dispose_after_fork(engine)
        ping_when_idle(engine)
    broker.init_app(app)
    with app.app_context():
        app.extensions[revocation.EXTENSION_KEY] = revocation.make_store(
            app, db.engine, broker.get_redis()
        )
    tokens.init_app(app)
    security.init_app(app)
    if settings.PROXY_FIX_X_FOR:
        hops = settings.PROXY_FIX_X_FOR
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)  # type: ignore[method-assign]
    app.register_blueprint(health.bp)
    # Outermost: a liveness probe proves the process answers, and needs nothing more.
    app.wsgi_app = health.Liveness(app.wsgi_app)  # type: ignore[method-assign]
    admin.init_app(app)
    # rq-dashboard links its favicon through Flask's ``static`` endpoint.
    app.add_url_rule("/static/<path:filename>", endpoint="static", view_func=static_file)
    return app


def build_app(settings: Settings) -> APIFlask:
    """The full web app: the API, the single-page app and the CLI, on top of the base."""
    app = build_base(settings)
    inputs.init_app(app)
    throttle.init_app(app)
    posts_cache.init_app(app)
    reactions.init_app(app)
    for blueprint in (auth_bp, users_bp, posts_bp, uploads_bp, jobs_bp, account_bp, devmail_bp):
        app.register_blueprint(blueprint)
    app.url_map.converters["client_path"] = ClientPathConverter
    app.register_blueprint(web_bp)
    cli.init_app(app)
    return app


def main() -> None:
    """The ``flaskyard`` console script: the Flask CLI bound to this app."""
    FlaskGroup(create_app=create_app)(prog_name="flaskyard")
