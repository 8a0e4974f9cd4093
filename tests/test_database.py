"""Engine hygiene: a forked child never shares the parent's pooled connections, and a
connection the database drops after an answer is made does not turn that answer into a 500."""

from __future__ import annotations

import os
import warnings

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from flask_sqlalchemy import SQLAlchemy

from flaskyard.database import ping_when_idle
from flaskyard.extensions import db as _db
from tests.support.backends import POSTGRES

PID_SQL = sa.text("SELECT pg_backend_pid()")


@pytest.mark.postgres
@POSTGRES
def test_engine_is_disposed_after_fork(db: SQLAlchemy) -> None:
    engine = db.engine
    with engine.connect() as connection:
        parent_pid = connection.execute(PID_SQL).scalar_one()
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, 3.12+
        child = os.fork()
    if child == 0:  # pragma: no cover - runs in the child only
        status = 1
        try:
            os.close(read_end)
            with engine.connect() as connection:
                child_pid = connection.execute(PID_SQL).scalar_one()
            os.write(write_end, str(child_pid).encode())
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as reader:
        written = reader.read().decode()
    _, wait_status = os.waitpid(child, 0)
    assert os.waitstatus_to_exitcode(wait_status) == 0
    assert int(written) != parent_pid
    with engine.connect() as connection:
        assert connection.execute(PID_SQL).scalar_one() == parent_pid
        assert connection.execute(sa.text("SELECT 1")).scalar_one() == 1


@pytest.mark.postgres
@POSTGRES
def test_an_idle_connection_the_server_dropped_is_replaced(database_url: str) -> None:
    # The app pings only connections idle for a while (no pre-ping on every checkout); one
    # the server dropped meanwhile must be swapped for a fresh one, not fail the request.
    engine = sa.create_engine(database_url, pool_size=1, max_overflow=0)
    ping_when_idle(engine, idle_seconds=0.0)
    try:
        with engine.connect() as connection:
            dropped = connection.execute(PID_SQL).scalar_one()
        killer = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
        with killer.connect() as admin:
            admin.execute(sa.text(f"SELECT pg_terminate_backend({int(dropped)})"))
        killer.dispose()
        with engine.connect() as connection:
            fresh = connection.execute(PID_SQL).scalar_one()
        assert fresh != dropped
    finally:
        engine.dispose()


@pytest.mark.postgres
@POSTGRES
def test_a_connection_dropped_before_teardown_keeps_the_answer(app: APIFlask) -> None:
    # The database ends this request's connection after the view has answered (a restart,
    # a failover): closing the session then fails to roll back, and the answer must stand.
    @app.get("/_drop-my-connection")
    def drop() -> dict[str, int]:
        pid = _db.session.execute(PID_SQL).scalar_one()
        with _db.engine.connect() as other:
            other.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        return {"pid": pid}

    @app.get("/_my-connection")
    def mine() -> dict[str, int]:
        return {"pid": _db.session.execute(PID_SQL).scalar_one()}

    client = app.test_client()  # testing: an error in a teardown would be raised here
    dropped = client.get("/_drop-my-connection")
    assert dropped.status_code == 200, dropped.get_data(as_text=True)
    after = client.get("/_my-connection")
    assert after.status_code == 200, after.get_data(as_text=True)
    assert after.get_json()["pid"] != dropped.get_json()["pid"]
