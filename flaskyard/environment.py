"""Where settings come from: the mode, ``.env.d`` files, ``*_FILE``, ``DOCKER-SECRET->``;
and whether a signing secret is fit for production.

Reading a value is kept apart from validating it (``config.Settings``), so the container boot
can expand one variable before the settings module and pydantic are imported.
"""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote

from dotenv import dotenv_values

MODES: tuple[str, ...] = ("development", "production", "testing")
DOCKER_SECRET_PREFIX = "DOCKER-SECRET->"  # noqa: S105 - a marker, not a secret
DEFAULT_SECRETS_DIR = "/run/secrets"

#: Old names still accepted; the first one of each tuple that is set wins.
ALIASES: dict[str, tuple[str, ...]] = {
    "APP_ENV": ("FLASK_ENV",),
    "TOKEN_BLOCKLIST": ("BLACKLIST_STORAGE_TYPE",),
    "FRONTEND_DIR": ("FLASK_STATIC_DIR", "FLASK_TEMPLATE_DIR"),
}
#: Seed-style pieces that build a URL setting when the URL itself is not given, in URL order.
URL_COMPONENTS: dict[str, tuple[str, ...]] = {
    "DATABASE_URL": (
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "POSTGRES_HOST",
        "POSTGRES_PORT",
        "POSTGRES_NAME",
    ),
    "REDIS_URL": ("REDIS_PASSWORD", "REDIS_HOST", "REDIS_PORT", "REDIS_DB_INDEX"),
}
_SECRET_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: The shortest signing secret production accepts.
MIN_SECRET_BYTES = 32

#: Values people paste from examples; production refuses them.
PLACEHOLDER_SECRETS = frozenset(
    "changeme change-me change_me changethis change-this secret secret-key secretkey "
    "your-secret-key super-secret supersecret dev development test password please-change-me "
    "replace-me xxx".split()
)
_PLACEHOLDER_WORDS = re.compile(r"change[-_ ]?(me|this)|replace[-_ ]?me|placeholder|example", re.I)


class ConfigError(Exception):
    """The configuration cannot be used; the message is one sentence for the operator."""


def resolve_mode(environ: Mapping[str, str]) -> str:
    """Read the mode from ``APP_ENV`` or ``FLASK_ENV`` (or their ``_FILE``); default development."""
    raw = expand_setting("APP_ENV", environ) or "development"
    mode = raw.strip().lower()
    if mode not in MODES:
        raise ConfigError(f"APP_ENV must be one of {', '.join(MODES)}, not {raw!r}.")
    return mode


def _read_file(name: str, path: str) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"{name} points at {path!r}, which cannot be read: {exc.strerror}."
        ) from exc
    return text[:-1] if text.endswith("\n") else text


def _expand_docker_secret(name: str, value: str, secrets_dir: Path) -> str:
    if not value.startswith(DOCKER_SECRET_PREFIX):
        return value
    secret = value[len(DOCKER_SECRET_PREFIX) :].strip()
    if not _SECRET_NAME.match(secret):
        raise ConfigError(f"{name} names an invalid Docker secret {secret!r}.")
    return _read_file(name, str(secrets_dir / secret))


def layered_environment(
    environ: Mapping[str, str], project_dir: Path | None = None
) -> dict[str, str]:
    """Merge ``.env.d/.env.<mode>`` under the real environment; the real environment wins."""
    mode = resolve_mode(environ)
    env_file = (project_dir or Path.cwd()) / ".env.d" / f".env.{mode}"
    merged: dict[str, str] = {}
    if env_file.is_file():
        merged.update({k: v for k, v in dotenv_values(env_file).items() if v is not None})
    merged.update(environ)
    for name in ("APP_ENV", *ALIASES["APP_ENV"]):
        merged.pop(name, None)
        merged.pop(f"{name}_FILE", None)
    merged["APP_ENV"] = mode
    return merged


def expand_setting(name: str, environ: Mapping[str, str]) -> str | None:
    """Read one setting from ``NAME``, an alias, or ``NAME_FILE``, expanding Docker secrets."""
    secrets_dir = Path(environ.get("SECRETS_DIR") or DEFAULT_SECRETS_DIR)
    candidates = [name, *ALIASES.get(name, ())]
    present = [n for n in candidates if n in environ]
    files = [n for n in candidates if f"{n}_FILE" in environ]
    if present and files:
        raise ConfigError(f"Set either {present[0]} or {files[0]}_FILE, not both.")
    if present:
        return _expand_docker_secret(present[0], environ[present[0]], secrets_dir)
    if files:
        file_var = f"{files[0]}_FILE"
        path = _expand_docker_secret(file_var, environ[file_var], secrets_dir)
        return _expand_docker_secret(files[0], _read_file(file_var, path), secrets_dir)
    return None


def instance_secret(instance_dir: Path, name: str) -> str:
    """Return a per-instance random secret for development, creating it once (mode 0600)."""
    path = instance_dir / name
    try:
        return path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        pass
    instance_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")
    return value


def _number(name: str, value: str | None, default: int) -> int:
    if value is None or not value.strip():
        return default
    if not value.strip().isdigit():
        raise ConfigError(f"{name} must be a whole number, not {value!r}.")
    return int(value.strip())


def _build_url(name: str, parts: Mapping[str, str]) -> str:
    if name == "DATABASE_URL":
        user = parts.get("POSTGRES_USER") or "postgres"
        password = parts.get("POSTGRES_PASSWORD")
        login = quote(user, safe="") + (f":{quote(password, safe='')}" if password else "")
        host = parts.get("POSTGRES_HOST") or "localhost"
        port = _number("POSTGRES_PORT", parts.get("POSTGRES_PORT"), 5432)
        database = parts.get("POSTGRES_NAME") or user
        return f"postgresql+psycopg://{login}@{host}:{port}/{quote(database, safe='')}"
    password = parts.get("REDIS_PASSWORD")
    login = f":{quote(password, safe='')}@" if password else ""
    host = parts.get("REDIS_HOST") or "localhost"
    port = _number("REDIS_PORT", parts.get("REDIS_PORT"), 6379)
    index = _number("REDIS_DB_INDEX", parts.get("REDIS_DB_INDEX"), 0)
    return f"redis://{login}{host}:{port}/{index}"


def expand_url(name: str, environ: Mapping[str, str]) -> str | None:
    """``DATABASE_URL`` or ``REDIS_URL`` as given, else built from its component variables.

    Each component is read like any setting (``NAME_FILE``, Docker secrets); the user name,
    password and database name are URL-quoted. Giving both the URL and a component is refused.
    """
    given = expand_setting(name, environ)
    parts = {}
    for component in URL_COMPONENTS[name]:
        value = expand_setting(component, environ)
        if value is not None:
            parts[component] = value
    if not parts:
        return given
    if given is not None:
        raise ConfigError(f"Set either {name} or its parts ({', '.join(parts)}), not both.")
    return _build_url(name, parts)


def secret_problem(value: str | None) -> str | None:
    """Say what is wrong with a signing secret, or None when it is fit for production."""
    if value is None or not value.strip():
        return "is not set"
    if len(value.encode()) < MIN_SECRET_BYTES:
        return f"is shorter than {MIN_SECRET_BYTES} bytes"
    lowered = value.strip().lower()
    if lowered in PLACEHOLDER_SECRETS or _PLACEHOLDER_WORDS.search(lowered) or len(set(value)) < 5:
        return "is a placeholder value"
    return None
