"""What a web worker imports: the API, not the job dashboard, the RQ worker, Pillow or Alembic.

Each process runs in a fresh interpreter (a subprocess), so what other tests imported does not
count. A module left out here costs memory in every gunicorn worker (see bench/image.py).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.servers import ROOT, clean_environ

pytestmark = pytest.mark.slow

#: Loaded only by the processes that use them: the dashboard on its first admin request (or
#: by the dashboard role), the worker by `flask worker`, Pillow and Alembic by jobs and migrations.
ON_DEMAND = ("rq_dashboard", "arrow", "flaskyard.worker", "PIL", "alembic")

SCRIPT = """
import json, sys
from flaskyard import create_app
from flaskyard.dashboard import create_dashboard_app

overrides = {"DATABASE_URL": sys.argv[1], "INSTANCE_DIR": sys.argv[2], "REDIS_URL": sys.argv[3]}
modules = json.loads(sys.argv[4])
report = {}
app = create_app(overrides)
report["web"] = [name for name in modules if name in sys.modules]
client = app.test_client()
report["refused"] = client.get("/admin/rq/").status_code
report["after_refusal"] = [name for name in modules if name in sys.modules]
report["mounted"] = "/admin/rq/<path:path>" in {rule.rule for rule in app.url_map.iter_rules()}
print(json.dumps(report))
"""


def _run(tmp_path: Path, *modules: str) -> dict[str, object]:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            SCRIPT,
            f"sqlite:///{tmp_path / 'app.db'}",
            str(tmp_path),
            # Never connected to while the app is built or a request is refused.
            "redis://127.0.0.1:9/0",
            json.dumps(modules),
        ],
        cwd=ROOT,
        env=clean_environ({"APP_ENV": "testing"}),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report: dict[str, object] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def test_a_web_worker_loads_none_of_the_on_demand_modules(tmp_path: Path) -> None:
    report = _run(tmp_path, *ON_DEMAND)
    assert report["mounted"] is True  # the dashboard's URLs are there...
    assert report["web"] == []  # ...but not its code, nor the others
    # A refused request never gets as far as loading the dashboard.
    assert report["refused"] == 401
    assert report["after_refusal"] == []
