"""Sign-in costs one user lookup and one hash, and hashing cannot take every thread."""

from __future__ import annotations

import os
import re
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from apiflask import APIFlask
from flask.testing import FlaskClient

from flaskyard.extensions import db
from flaskyard.users.passwords import GATE_KEY, HashGate, HashingBusyError
from tests.support.api import login, problem
from tests.support.backends import TWO_BACKENDS
from tests.support.costs import counting
from tests.support.factories import UserFactory
from tests.test_machine import hold_in_another_process, kill

USERS_QUERY = re.compile(r"\bFROM users\b", re.IGNORECASE)


@TWO_BACKENDS
@pytest.mark.parametrize("password", ["correct horse battery", "wrong password"])
def test_a_sign_in_looks_the_user_up_once(
    app: APIFlask, client: FlaskClient, make_user: UserFactory, password: str
) -> None:
    make_user("alice")
    statements: list[str] = []

    def on_statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", on_statement)
    try:
        response = login(client, "alice", password)
    finally:
        sa.event.remove(engine, "before_cursor_execute", on_statement)
    assert response.status_code == (200 if password.startswith("correct") else 401)
    assert len([s for s in statements if USERS_QUERY.search(s)]) == 1, "\n".join(statements)


@TWO_BACKENDS
@pytest.mark.usefixtures("redis_url")
@pytest.mark.parametrize(
    ("password", "status", "round_trips"),
    # The address's window (counted), the account's (only looked at); a failure is then
    # counted against the account too.
    [("correct horse battery", 200, 2), ("wrong password", 401, 3)],
)
def test_a_sign_in_costs_one_statement_and_its_rate_limits(
    app: APIFlask,
    client: FlaskClient,
    make_user: UserFactory,
    monkeypatch: pytest.MonkeyPatch,
    password: str,
    status: int,
    round_trips: int,
) -> None:
    make_user("alice")
    make_user("bob")
    assert login(client, "bob", "correct horse battery").status_code == 200  # scripts loaded
    with counting(app, monkeypatch) as cost:
        response = login(client, "alice", password)
    assert response.status_code == status
    # The account lookup, on its own autocommit connection: no BEGIN, no ROLLBACK, no write;
    # and no window read just to build the rate-limit headers a sign-in never shows.
    assert cost.statements == 1, cost
    assert cost.redis_round_trips == round_trips, cost
    assert not [h for h in response.headers.keys() if h.lower().startswith("x-ratelimit-")]


def test_the_gate_refuses_beyond_its_queue() -> None:
    gate = HashGate(slots=1, queue=1, wait=5.0)
    started, release = threading.Event(), threading.Event()
    results: list[str] = []

    def hold() -> str:
        started.set()
        release.wait(5)
        return "held"

    holder = threading.Thread(target=lambda: results.append(gate.run(hold)))
    holder.start()
    assert started.wait(5)
    waiter = threading.Thread(target=lambda: results.append(gate.run(lambda: "waited")))
    waiter.start()
    # The slot is taken and one caller waits: a third is refused at once.
    for _ in range(100):
        try:
            gate.run(lambda: "third")
        except HashingBusyError:
            break
        threading.Event().wait(0.01)  # the waiter had not queued yet
    else:
        pytest.fail("The gate never refused a caller beyond its queue.")
    release.set()
    holder.join(5)
    waiter.join(5)
    assert sorted(results) == ["held", "waited"]


def test_the_gate_gives_up_after_its_wait() -> None:
    gate = HashGate(slots=1, queue=1, wait=0.05)
    release = threading.Event()
    holder = threading.Thread(target=lambda: gate.run(lambda: release.wait(5)))
    holder.start()
    try:
        with pytest.raises(HashingBusyError):
            for _ in range(100):
                gate.run(lambda: None)  # succeeds only until the holder took the slot
                threading.Event().wait(0.01)
    finally:
        release.set()
        holder.join(5)


def test_a_busy_sign_in_is_503_with_retry_after(
    app_config: dict[str, Any], make_user: UserFactory, app: APIFlask, client: FlaskClient
) -> None:
    make_user("alice")
    gate: HashGate = app.extensions[GATE_KEY]
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        taken.set()
        release.wait(10)

    holder = threading.Thread(target=lambda: gate.run(hold))
    holder.start()
    try:
        assert taken.wait(5)
        body = problem(login(client, "alice"), 503)
        assert "try again" in body["detail"]
    finally:
        release.set()
        holder.join(10)
    assert login(client, "alice").status_code == 200


def test_one_process_may_use_every_slot_of_the_machine(tmp_path: Path) -> None:
    """Two slots on the machine, none busy elsewhere: one process runs two hashes at once."""
    gate = HashGate(slots=2, queue=1, wait=5.0, slot_dir=tmp_path)
    both_in = threading.Barrier(3, timeout=5)

    def meet() -> str:
        both_in.wait()  # returns only once both hashes run at the same time
        return "ran"

    results: list[str] = []
    runners = [threading.Thread(target=lambda: results.append(gate.run(meet))) for _ in range(2)]
    for runner in runners:
        runner.start()
    both_in.wait()
    for runner in runners:
        runner.join(5)
    assert results == ["ran", "ran"]


def test_a_slot_held_by_another_process_is_waited_for_then_taken(tmp_path: Path) -> None:
    gate = HashGate(slots=1, queue=1, wait=0.2, slot_dir=tmp_path)
    assert gate.run(lambda: "first") == "first"  # the slot file exists from here on
    holder = hold_in_another_process(tmp_path / "slot-0")
    try:
        started = time.monotonic()
        with pytest.raises(HashingBusyError):
            gate.run(lambda: "refused")
        assert time.monotonic() - started >= 0.2  # it waited its whole wait first
    finally:
        kill(holder)  # a killed holder cannot keep its slot
    assert gate.run(lambda: "after") == "after"

    holder = hold_in_another_process(tmp_path / "slot-0")
    gate = HashGate(slots=1, queue=1, wait=5.0, slot_dir=tmp_path)
    ending = threading.Timer(0.2, holder.communicate)  # the other process ends in 0.2 s
    ending.start()
    started = time.monotonic()
    assert gate.run(lambda: "waited") == "waited"
    assert 0.15 <= time.monotonic() - started < 4
    ending.join(10)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    """One hashing slot, no queue, a short wait: the second sign-in at once is refused."""
    app_config.update(PASSWORD_HASH_CONCURRENCY=1, PASSWORD_HASH_QUEUE=0, PASSWORD_HASH_WAIT=0.1)
    return app_config


def test_a_sign_in_with_no_place_free_is_refused_before_any_work(
    make_user: UserFactory, app: APIFlask, client: FlaskClient
) -> None:
    make_user("alice")
    gate: HashGate = app.extensions[GATE_KEY]
    with app.app_context():
        engine = db.engine
    statements: list[str] = []
    sa.event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    with gate.admitted():  # the only place (one slot, no queue) is taken
        body = problem(login(client, "alice"), 503)
    assert "try again" in body["detail"]
    assert statements == []  # neither the account lookup nor anything else ran
    assert login(client, "alice").status_code == 200


def test_hashes_run_on_threads_nicer_than_the_callers() -> None:
    """A burst of sign-ins yields the CPU to other requests: the hash threads run nicer."""
    if not hasattr(os, "getpriority"):
        pytest.skip("per-thread niceness is a Linux feature")

    def niceness() -> int:
        return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    gate = HashGate(slots=2, queue=0, wait=1.0, niceness=5)
    mine = niceness()
    theirs = gate.run(niceness)
    assert theirs == min(19, mine + 5)
    assert threading.get_native_id() != gate.run(threading.get_native_id)
    assert niceness() == mine  # the caller's own priority is untouched
