"""PostgreSQL stopped and restarted under traffic: 503s while it is away, nothing lost."""

from __future__ import annotations

import time
import uuid

import sqlalchemy as sa

from tests.chaos.conftest import REQUEST_TIMEOUT_SECONDS, Stack, StackFactory, report
from tests.support.outages import Outcome, PostgresCluster, Traffic, describe, unexpected

WRITERS = 3
READERS = 2
UP_SECONDS = 1.5
OUTAGE_SECONDS = 2.5
#: After the database is back, this long may still see 503s; nothing but 2xx after it.
RECOVERY_SECONDS = 5.0
AFTER_SECONDS = 2.0


def _writer(stack: Stack, token: str, written: list[str]) -> Outcome:
    title = f"chaos {uuid.uuid4().hex}"
    outcome, body = stack.call(
        "write", "POST", "/api/v1/posts", token=token, json_body={"title": title, "body": "b"}
    )
    if outcome.status == 201:
        assert body["title"] == title, body
        outcome.key = title
        written.append(title)
    return outcome


def _reader(stack: Stack, token: str) -> Outcome:
    # A read that needs the database (/users/me may be answered from the process's copy of
    # the user, which Redis keeps current, so it can stay 200 while the database is away).
    return stack.call("read", "GET", "/api/v1/jobs", token=token)[0]


def _is_unavailable(outcome: Outcome) -> bool:
    return (
        outcome.status == 503
        and outcome.content_type == "application/problem+json"
        and outcome.retry_after is not None
        and int(outcome.retry_after) > 0
    )


def test_database_outage_is_503_then_recovers_with_nothing_lost(
    postgres_cluster: PostgresCluster, stack_factory: StackFactory
) -> None:
    stack: Stack = stack_factory()
    token = stack.sign_in("alice")
    written: list[str] = []
    steps = [lambda: _writer(stack, token, written)] * WRITERS + [
        lambda: _reader(stack, token)
    ] * READERS
    traffic = Traffic(steps)
    with traffic:
        traffic.mark("up")
        time.sleep(UP_SECONDS)
        traffic.mark("stop")
        postgres_cluster.stop("immediate")
        traffic.mark("down")
        time.sleep(OUTAGE_SECONDS)
        traffic.mark("restart")
        postgres_cluster.start()
        traffic.mark("back")
        time.sleep(RECOVERY_SECONDS)
        traffic.mark("recovered")
        time.sleep(AFTER_SECONDS)
    traffic.mark("end")

    everything = traffic.between("up")
    before = traffic.between("up", "stop")
    outage = traffic.between("down", "restart")
    after = traffic.between("recovered")
    report(
        f"PostgreSQL outage ({OUTAGE_SECONDS:g} s, {WRITERS} writers + {READERS} readers): "
        f"all {describe(traffic.counts(everything))}; before {describe(traffic.counts(before))}; "
        f"outage {describe(traffic.counts(outage))}; "
        f"{RECOVERY_SECONDS:g} s after restart {describe(traffic.counts(after))}; "
        f"slowest {max(o.seconds for o in everything):.2f} s"
    )

    logs = f"\n{stack.logs()}"
    # No 500, no dropped connection, no request beyond the bound at any time.
    # One string, so pytest shows the servers' logs whole rather than a shortened repr.
    assert not unexpected(everything, lambda o: o.status in (200, 201) or _is_unavailable(o)), (
        f"{unexpected(everything, lambda o: o.status in (200, 201) or _is_unavailable(o))}{logs}"
    )
    assert max(o.seconds for o in everything) < REQUEST_TIMEOUT_SECONDS
    assert not unexpected(before, lambda o: o.status in (200, 201)), unexpected(
        before, lambda o: o.status in (200, 201)
    )
    assert len(outage) >= WRITERS + READERS, "the outage saw too little traffic to judge"
    assert not unexpected(outage, _is_unavailable), unexpected(outage, _is_unavailable)
    assert after, "no traffic after the recovery"
    assert not unexpected(after, lambda o: o.status in (200, 201)), (
        unexpected(after, lambda o: o.status in (200, 201)),
        logs,
    )

    # Nothing lost: every write that was answered 201 is in the database.
    engine = sa.create_engine(stack.database_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            stored = set(connection.execute(sa.text("SELECT title FROM posts")).scalars())
    finally:
        engine.dispose()
    missing = set(written) - stored
    assert written and not missing, f"{len(missing)} of {len(written)} acknowledged writes lost"
