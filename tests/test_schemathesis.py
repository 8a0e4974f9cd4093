"""Schemathesis against the live API: every answer is documented, in its documented shape.

The schemathesis CLI runs against a real gunicorn (``tests.support.live_api``) with a fixed
generation (deterministic mode), bounded examples per operation, and stateful sequences along
the document's links (create, then get, change, delete). Three runs, by token:

- a user's, over every operation but the ones that end the token's session;
- an admin's, over the operations where being an admin changes the answer;
- a throwaway login's, over sign-out and refresh (which end or rotate it).

The event stream is left out of fuzzing: without a worker its jobs never end, so a stream
would stay open until the request timed out. Its media type is checked in test_openapi.py,
and tests/test_generated_client.py reads a stream to its end.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.live_api import LiveApi
from tests.support.summary import report

pytestmark = pytest.mark.slow

CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
)
#: Generated cases per operation and phase; stateful runs follow the links on top of these.
MAX_EXAMPLES = 5
#: Where fewer do: the admin's operations are mostly the user's again.
FEW_EXAMPLES = 3
SIGN_OUT = ("post_auth_logout", "post_account_logout_all", "post_auth_refresh")
STREAM = "get_jobs_job_events"
#: Where an admin gets a different answer from a user.
ADMIN_OPERATIONS = (
    "get_users_me",
    "get_users_list_users",
    "patch_users_patch_user",
    "get_jobs_list_jobs",
    "post_dashboard_session_open_session",
    "post_posts_create_post",
    "patch_posts_update_post",
    "delete_posts_delete_post",
    "get_uploads_download",
)


@dataclass
class Outcome:
    """What one schemathesis run reported."""

    name: str
    operations: int = 0
    cases: int = 0
    checks: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: list[object] = field(default_factory=list)
    errors: list[object] = field(default_factory=list)
    output: str = ""
    seconds: float = 0.0


def _run(
    name: str, api: LiveApi, token: str, filters: list[str], tmp_path: Path, examples: int
) -> Outcome:
    json_report, events = tmp_path / f"{name}.json", tmp_path / f"{name}.ndjson"
    command = [
        sys.executable,
        "-m",
        "schemathesis.cli",
        "run",
        f"{api.url}/api/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(examples),
        "--generation-deterministic",
        "--workers",
        "1",
        "--request-timeout",
        "20",
        "--no-color",
        "--report",
        "json,ndjson",
        "--report-json-path",
        str(json_report),
        "--report-ndjson-path",
        str(events),
        *filters,
    ]
    started = time.monotonic()
    done = subprocess.run(  # noqa: S603 - our own interpreter and arguments
        command, cwd=tmp_path, capture_output=True, text=True, timeout=300, check=False
    )
    outcome = Outcome(name, output=done.stdout[-6000:] + done.stderr[-2000:])
    outcome.seconds = time.monotonic() - started
    assert json_report.is_file(), outcome.output
    summary = json.loads(json_report.read_text())
    outcome.operations = summary["operations"]["tested"]
    outcome.cases = summary["test_cases"]["generated"]
    outcome.failures = summary["failures"]
    outcome.errors = summary["errors"]
    for line in events.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        recorder = (finished or {}).get("recorder") or {}
        for results in recorder.get("checks", {}).values():
            outcome.checks.update((check["name"], check["status"]) for check in results)
    return outcome


def _only(operation_ids: tuple[str, ...]) -> list[str]:
    return [arg for op in operation_ids for arg in ("--include-operation-id", op)]


@pytest.mark.timeout(600)  # on a loaded machine; about a minute on two idle cores
def test_the_live_api_matches_its_document(live_api: LiveApi, tmp_path: Path) -> None:
    skipped = [arg for op in (*SIGN_OUT, STREAM) for arg in ("--exclude-operation-id", op)]
    # Sign-out and refresh link nowhere, so that run has no stateful phase.
    stateless = ["--phases", "examples,coverage,fuzzing"]
    admin = _only(ADMIN_OPERATIONS)
    outcomes = [
        _run("user", live_api, live_api.user_token(), skipped, tmp_path, MAX_EXAMPLES),
        _run("admin", live_api, live_api.admin_token(), admin, tmp_path, FEW_EXAMPLES),
        _run(
            "sign-out",
            live_api,
            live_api.user_token(),
            _only(SIGN_OUT) + stateless,
            tmp_path,
            FEW_EXAMPLES,
        ),
    ]

    total: Counter[tuple[str, str]] = Counter()
    for outcome in outcomes:
        total.update(outcome.checks)
        report(
            "schemathesis",
            f"{outcome.name:9} {outcome.operations} operations, {outcome.cases} cases, "
            f"{len(outcome.failures)} failures, {len(outcome.errors)} errors "
            f"in {outcome.seconds:.0f} s",
        )
    for check in CHECKS:
        passed, failed = total[(check, "success")], total[(check, "failure")]
        report("schemathesis", f"{check:28} {passed} passed, {failed} failed")

    for outcome in outcomes:
        assert outcome.operations > 0 and outcome.cases > 0, outcome.output
        assert outcome.failures == [], outcome.output
        assert outcome.errors == [], outcome.output
    for check in CHECKS:
        assert total[(check, "success")] > 0, check
        assert total[(check, "failure")] == 0, check
    unexpected = {status for (_, status) in total} - {"success", "failure", "skip"}
    assert not unexpected, unexpected
