"""The app's one typed :class:`~flaskyard.config.Settings`, kept in ``app.extensions``.

Code reads its settings as attributes of that object (``current_settings().UPLOAD_DIR``);
``app.config`` holds only the keys Flask and its extensions read themselves.
"""

from __future__ import annotations

from flask import Flask, current_app

from flaskyard.config import Settings

EXTENSION_KEY = "flaskyard.settings"


def init_app(app: Flask, settings: Settings) -> None:
    """Attach ``settings`` to ``app``."""
    app.extensions[EXTENSION_KEY] = settings


def get_settings(app: Flask) -> Settings:
    """The settings ``app`` was built with."""
    settings: Settings = app.extensions[EXTENSION_KEY]
    return settings


def current_settings() -> Settings:
    """The settings of the app in the current app context."""
    return get_settings(current_app)
