"""Property tests: whatever JSON a client sends to the request schemas, the answer is no 500.

Bounded and derandomized, so every run (and CI) tries the same examples on every database.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api import LOGIN, POSTS, REGISTER, auth_headers
from tests.support.factories import UserFactory

PROPERTY_SETTINGS = settings(
    max_examples=25,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
#: Characters no database stores (NUL, lone surrogates) or only some do (outside the BMP).
REFUSED = st.sampled_from(["\x00", "\ud800", "\udfff", "\U0001f600"])
#: Any text a JSON string can carry, half the time with such a character inside.
TEXT = st.one_of(
    st.text(max_size=30),
    st.builds(lambda a, bad, b: a + bad + b, st.text(max_size=10), REFUSED, st.text(max_size=10)),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**80), max_value=2**80),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(TEXT, children, max_size=3),
    max_leaves=8,
)


@pytest.fixture
def app_config(app_config: dict[str, Any]) -> dict[str, Any]:
    # Sign-in throttling would answer 429 before most examples reach the database.
    limits = {
        "LOGIN_RATE_LIMIT_IP": "100000 per minute",
        "LOGIN_RATE_LIMIT_ACCOUNT": "100000 per minute",
    }
    return {**app_config, **limits}


def _body(required: dict[str, Any], *optional: str) -> st.SearchStrategy[dict[str, Any]]:
    # Required fields are text, so most examples get past the schema to the database.
    return st.fixed_dictionaries(
        required,
        optional=dict.fromkeys(optional, JSON),
    )


def _no_server_error(response: Any) -> None:
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        assert response.mimetype == "application/problem+json"


def test_sign_in_and_registration_never_answer_500(client: FlaskClient) -> None:
    @PROPERTY_SETTINGS
    @given(
        login=_body({"username": TEXT, "password": TEXT}, "cookie"),
        register=_body({"username": TEXT, "email": TEXT, "password": TEXT}),
    )
    def check(login: dict[str, Any], register: dict[str, Any]) -> None:
        _no_server_error(client.post(LOGIN, json=login))
        _no_server_error(client.post(REGISTER, json=register))

    check()


def test_posts_and_jobs_never_answer_500(client: FlaskClient, make_user: UserFactory) -> None:
    make_user("alice")
    headers = auth_headers(client, "alice")

    @PROPERTY_SETTINGS
    @given(
        post=_body({"title": TEXT, "body": TEXT}, "upload_ids"),
        job=_body(
            {
                "type": st.sampled_from(["demo", "export_posts", "import_posts", "thumbnail"]),
                "params": JSON,
            }
        ),
        # A URL carries bytes, never a lone surrogate; NUL it can carry.
        page=st.one_of(
            st.integers(min_value=-(2**70), max_value=2**70),
            st.text(st.characters(codec="utf-8"), max_size=10),
        ),
        per_page=st.integers(min_value=1, max_value=100),
    )
    def check(post: dict[str, Any], job: dict[str, Any], page: Any, per_page: int) -> None:
        _no_server_error(client.post(POSTS, json=post, headers=headers))
        _no_server_error(client.get(POSTS, query_string={"page": page, "per_page": per_page}))
        _no_server_error(client.post("/api/v1/jobs", json=job, headers=headers))

    check()
