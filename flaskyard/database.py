"""Declarative base, portable column types and engine hygiene across fork."""

from __future__ import annotations

import os
import weakref
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import mysql

#: Explicit constraint names so migrations can drop and alter them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


#: What services accept: a Session or Flask-SQLAlchemy's scoped ``db.session``.
DbSession = so.Session | so.scoped_session[Any]


def utcnow() -> datetime:
    """The current time, timezone-aware in UTC."""
    return datetime.now(UTC)


class UTCDateTime(sa.TypeDecorator[datetime]):
    """Store naive UTC with microseconds everywhere, hand back aware UTC datetimes."""

    impl = sa.DateTime
    cache_ok = True

    def load_dialect_impl(self, dialect: sa.Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name in ("mysql", "mariadb"):
            return dialect.type_descriptor(mysql.DATETIME(fsp=6))
        return dialect.type_descriptor(sa.DateTime())

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("Naive datetimes are ambiguous; pass an aware UTC datetime.")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(so.DeclarativeBase):
    """Base class of every model; shares one MetaData with Flask-SQLAlchemy."""

    registry = so.registry(
        metadata=sa.MetaData(naming_convention=NAMING_CONVENTION),
        type_annotation_map={datetime: UTCDateTime()},
    )


_forked_engines: weakref.WeakSet[sa.Engine] = weakref.WeakSet()


def _reset_pools_in_child() -> None:
    for engine in list(_forked_engines):
        # close=False: the parent still owns those sockets; the child just forgets them.
        engine.dispose(close=False)


os.register_at_fork(after_in_child=_reset_pools_in_child)


def dispose_after_fork(engine: sa.Engine) -> None:
    """Make every forked child (gunicorn worker, RQ work horse) start with an empty pool."""
    _forked_engines.add(engine)
