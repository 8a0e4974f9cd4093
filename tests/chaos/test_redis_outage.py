"""Redis killed and restarted under traffic: what needs it is 503, what does not keeps working."""

from __future__ import annotations

import time

import sqlalchemy as sa

from tests.chaos.conftest import REQUEST_TIMEOUT_SECONDS, Stack, StackFactory, report
from tests.support.jobs import wait_for
from tests.support.outages import Outcome, OwnRedis, Traffic, describe, unexpected

UP_SECONDS = 1.5
OUTAGE_SECONDS = 2.5
RECOVERY_SECONDS = 5.0
AFTER_SECONDS = 2.0
#: How long the worker may take, after the traffic, to run every job it was given.
DRAIN_SECONDS = 30.0


def _submit(stack: Stack, token: str, accepted: list[str]) -> Outcome:
    outcome, body = stack.call(
        "job",
        "POST",
        "/api/v1/jobs",
        token=token,
        json_body={"type": "demo", "params": {"seconds": 0, "steps": 1}},
    )
    if outcome.status == 202:
        accepted.append(body["id"])
    return outcome


def _problem_503(outcome: Outcome) -> bool:
    return outcome.status == 503 and outcome.content_type == "application/problem+json"


def test_redis_outage_refuses_what_needs_it_and_loses_nothing(
    stack_factory: StackFactory, own_redis: OwnRedis
) -> None:
    # Room for every job the traffic submits: the per-user cap is not what is tested here.
    stack: Stack = stack_factory(workers=1, JOB_MAX_ACTIVE_PER_USER="100000")
    alice, bob = stack.sign_in("alice"), stack.sign_in("bob")
    worker = stack.workers[0]
    accepted: list[str] = []
    traffic = Traffic(
        [
            # Queueing a job needs Redis: 503 while it is away.
            lambda: _submit(stack, alice, accepted),
            # Every signed-in request checks the token is not revoked: it fails closed.
            lambda: stack.call("signed-in", "GET", "/api/v1/users/me", token=bob)[0],
            # Reading posts anonymously needs no Redis (its cache steps aside): always 200.
            lambda: stack.call("anonymous", "GET", "/api/v1/posts")[0],
            lambda: stack.call("anonymous", "GET", "/healthz")[0],
        ]
    )
    with traffic:
        traffic.mark("up")
        time.sleep(UP_SECONDS)
        traffic.mark("stop")
        own_redis.kill()
        traffic.mark("down")
        time.sleep(OUTAGE_SECONDS)
        traffic.mark("restart")
        own_redis.start()
        traffic.mark("back")
        time.sleep(RECOVERY_SECONDS)
        traffic.mark("recovered")
        time.sleep(AFTER_SECONDS)

    everything = traffic.between("up")
    outage = traffic.between("down", "restart")
    needs_redis = [o for o in outage if o.kind != "anonymous"]
    anonymous = [o for o in outage if o.kind == "anonymous"]
    after = traffic.between("recovered")
    report(
        f"Redis outage ({OUTAGE_SECONDS:g} s): all {describe(traffic.counts(everything))}; "
        f"outage, needing Redis {describe(traffic.counts(needs_redis))}; "
        f"outage, anonymous reads {describe(traffic.counts(anonymous))}; "
        f"{RECOVERY_SECONDS:g} s after restart {describe(traffic.counts(after))}; "
        f"jobs accepted {len(accepted)}"
    )
    logs = f"\n{stack.logs()}"
    ok = (200, 202)
    # One string, so pytest shows the servers' logs whole rather than a shortened repr.
    assert not unexpected(everything, lambda o: o.status in ok or _problem_503(o)), (
        f"{unexpected(everything, lambda o: o.status in ok or _problem_503(o))}{logs}"
    )
    assert max(o.seconds for o in everything) < REQUEST_TIMEOUT_SECONDS
    assert not unexpected(traffic.between("up", "stop"), lambda o: o.status in ok)
    assert {o.kind for o in needs_redis} == {"job", "signed-in"}, "too little outage traffic"
    assert not unexpected(needs_redis, _problem_503), unexpected(needs_redis, _problem_503)
    assert anonymous and not unexpected(anonymous, lambda o: o.status == 200), unexpected(
        anonymous, lambda o: o.status == 200
    )
    assert after and not unexpected(after, lambda o: o.status in ok), (
        unexpected(after, lambda o: o.status in ok),
        logs,
    )

    # Nothing lost: the worker outlived the outage and every accepted job ran; no job
    # refused with 503 left a row behind.
    engine = sa.create_engine(stack.database_url, poolclass=sa.pool.NullPool)

    def statuses() -> dict[str, str]:
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT id, status FROM jobs")).all()
        return {str(job_id): status for job_id, status in rows}

    try:
        wait_for(
            lambda: all(s == "finished" for s in statuses().values()),
            timeout=DRAIN_SECONDS,
            interval=0.5,
            what="every accepted job to finish",
        )
        final = statuses()
    except AssertionError as exc:
        waiting = {job: status for job, status in statuses().items() if status != "finished"}
        raise AssertionError(f"{exc}\nunfinished: {waiting}\n{stack.logs()}") from None
    finally:
        engine.dispose()
    assert sorted(final) == sorted(accepted), "the jobs in the database are not the 202s"
    assert worker.poll() is None, stack.logs()
