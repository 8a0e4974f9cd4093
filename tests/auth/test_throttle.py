"""Login throttling on Redis: per-account failures, per-address volume, Retry-After."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from flask.testing import FlaskClient
from redis import Redis

from tests.support.api import login, problem
from tests.support.apps import built_app, isolate_rate_limits
from tests.support.factories import UserFactory

pytestmark = [pytest.mark.usefixtures("redis_url", "roles")]


@pytest.fixture
def users(make_user: UserFactory) -> None:
    make_user("alice")
    make_user("bob")


def _assert_throttled(response: Any) -> None:
    body = problem(response, 429)
    retry_after = response.headers.get("Retry-After")
    assert retry_after is not None and retry_after.isdigit(), retry_after
    assert 0 < int(retry_after) <= 15 * 60
    assert body["detail"]


@pytest.mark.usefixtures("users")
def test_ten_failures_lock_the_account(client: FlaskClient, app_config: dict[str, Any]) -> None:
    for _ in range(10):
        problem(login(client, "alice", "wrong password"), 401)
    redis = Redis.from_url(app_config["REDIS_URL"])
    try:  # the counters live in Redis, so every worker shares them
        assert list(redis.scan_iter(f"*{app_config['RATELIMIT_KEY_PREFIX']}*"))
    finally:
        redis.close()
    _assert_throttled(login(client, "alice", "wrong password"))
    _assert_throttled(login(client, "alice"))  # even the right password waits
    _assert_throttled(login(client, " ALICE "))  # the same name, spelled differently
    assert login(client, "bob").status_code == 200
    problem(login(client, "bob", "wrong password"), 401)


@pytest.mark.usefixtures("users")
def test_username_failures_also_lock_the_email_login(client: FlaskClient) -> None:
    for _ in range(10):
        problem(login(client, "alice", "wrong password"), 401)
    _assert_throttled(login(client, "alice@example.com", "wrong password"))


@pytest.mark.usefixtures("users")
def test_unknown_accounts_are_throttled_alike(client: FlaskClient) -> None:
    for _ in range(10):
        problem(login(client, "nobody", "wrong password"), 401)
    _assert_throttled(login(client, "nobody", "wrong password"))


@pytest.mark.usefixtures("users")
def test_successful_logins_do_not_count(client: FlaskClient) -> None:
    for _ in range(15):
        assert login(client, "alice").status_code == 200
    for _ in range(9):
        problem(login(client, "alice", "wrong password"), 401)
    assert login(client, "alice").status_code == 200


@pytest.mark.usefixtures("users")
def test_per_address_limit(app_config: dict[str, Any], make_user: UserFactory) -> None:
    config = {**app_config, "LOGIN_RATE_LIMIT_IP": "5 per minute"}
    isolate_rate_limits(config)
    with built_app(config) as application:
        client = application.test_client()
        for _ in range(5):
            assert login(client, "alice").status_code == 200
        _assert_throttled(login(client, "bob"))
        other = application.test_client()
        response = other.post(
            "/api/v1/auth/login",
            json={"username": "bob", "password": "correct horse battery"},
            environ_base={"REMOTE_ADDR": "192.0.2.7"},
        )
        assert response.status_code == 200


def test_each_app_uses_its_own_key_prefix(app_config: dict[str, Any], redis_url: str) -> None:
    prefixes = []
    for _ in range(2):
        prefix = f"test-own-{uuid4().hex}"
        # No isolate_rate_limits() here: this is the behaviour it works around.
        with built_app({**app_config, "RATELIMIT_KEY_PREFIX": prefix}) as application:
            login(application.test_client(), "nobody", "wrong password")
        prefixes.append(prefix)
    redis = Redis.from_url(redis_url)
    try:
        found = [bool(list(redis.scan_iter(f"*{prefix}*"))) for prefix in prefixes]
    finally:
        redis.close()
    assert found == [True, True]


def test_failed_sign_ins_do_not_link_a_username_to_its_email(
    client: FlaskClient, make_user: UserFactory
) -> None:
    make_user("carol", email="carol@example.com")
    answers = [
        login(client, "carol", "wrong password"),
        login(client, "carol@example.com", "wrong password"),
        login(client, "carol", "wrong password"),
    ]
    for response in answers:
        problem(response, 401)
        counters = [key for key in response.headers.keys() if key.lower().startswith("x-ratelimit")]
        assert counters == [], counters


@pytest.mark.usefixtures("users")
def test_throttled_sign_ins_carry_no_counters_either(client: FlaskClient) -> None:
    for _ in range(10):
        problem(login(client, "alice", "wrong password"), 401)
    for name in ("alice", "alice@example.com"):
        response = login(client, name, "wrong password")
        _assert_throttled(response)
        counters = [key for key in response.headers.keys() if key.lower().startswith("x-ratelimit")]
        assert counters == [], counters
