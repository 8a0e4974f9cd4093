"""Unbound extension instances, bound to an app in create_app()."""

from __future__ import annotations

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy

from flaskyard.database import Base

db = SQLAlchemy(model_class=Base)
migrate = Migrate()
