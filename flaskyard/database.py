"""Declarative base, portable column types and engine hygiene across fork."""

from __future__ import annotations

import os
import time
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


#: A pooled connection idle longer than this is pinged before use (see ``ping_when_idle``).
IDLE_PING_SECONDS = 10.0
_CHECKED_IN_AT = "flaskyard.checked_in_at"


def ping_when_idle(engine: sa.Engine, idle_seconds: float = IDLE_PING_SECONDS) -> None:
    """Ping a pooled connection before use only when it sat idle for ``idle_seconds``.

    ``pool_pre_ping`` pings on every checkout: one extra round trip per request, a fifth of
    the posts list on PostgreSQL. A connection busy a moment ago is alive; the ones that die
    (a database restart, an idle timeout on the server or a proxy) have sat unused. A failed
    ping raises ``DisconnectionError``, on which the pool swaps in a fresh connection, exactly
    as pre-ping does.
    """

    def checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    def checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        since = record.info.get(_CHECKED_IN_AT)
        if since is None or time.monotonic() - since < idle_seconds:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:  # noqa: BLE001 - any failure means the connection is gone
            raise sa.exc.DisconnectionError(
                f"The pooled connection failed its ping: {exc}"
            ) from exc
        if not alive:
            raise sa.exc.DisconnectionError("The pooled connection failed its ping.")

    sa.event.listen(engine.pool, "checkin", checkin)
    sa.event.listen(engine.pool, "checkout", checkout)


def remove_session(session: so.scoped_session[Any]) -> None:
    """End a request's session; a connection the database dropped is let go, not raised.

    Closing rolls back the open transaction. When the database went away after the response was
    made (a restart, a failover), that rollback fails, yet there is nothing left to undo: the
    server ended the transaction with the connection. Raised from a teardown, the error would
    replace the finished answer with the server's bare 500 page; so the session's connections
    are invalidated instead, and the pool opens new ones for the next request.
    """
    if session.registry.has():
        current = session()
        try:
            current.close()
        except (sa.exc.OperationalError, sa.exc.InterfaceError):
            current.invalidate()
    session.remove()
