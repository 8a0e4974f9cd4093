"""Flaskyard: a production-ready Flask application. ``create_app()`` is the entry point.

The factory lives in :mod:`flaskyard.app` and is loaded on first use: the container's health
check (``python -m flaskyard.boot healthcheck``) and ``gunicorn.conf.py`` import parts of this
package and must not pay for building the whole app.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flaskyard.app import VERSION as __version__
    from flaskyard.app import build_app, create_app
    from flaskyard.extensions import MIGRATIONS_DIR

__all__ = ["MIGRATIONS_DIR", "__version__", "build_app", "create_app"]
#: Public name -> (module, attribute), imported when first asked for.
_LAZY = {
    "create_app": ("flaskyard.app", "create_app"),
    "build_app": ("flaskyard.app", "build_app"),
    "__version__": ("flaskyard.app", "VERSION"),
    "MIGRATIONS_DIR": ("flaskyard.extensions", "MIGRATIONS_DIR"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'flaskyard' has no attribute {name!r}")
    module, attribute = _LAZY[name]
    return getattr(importlib.import_module(module), attribute)
