"""The front end's build mode follows NODE_ENV (seed 000), checked on rollup's own config.

Building takes most of a minute here, so the test loads ``frontend/rollup.config.mjs`` in Node
with each NODE_ENV and reads what rollup would be given: output options and the plugins in use.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

FRONTEND = Path(__file__).resolve().parent.parent / "frontend"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (FRONTEND / "node_modules" / "rollup").is_dir(),
    reason="Node.js and frontend/node_modules (make frontend) are needed",
)

#: Each case loads the config afresh (a new module URL) in one Node process, since loading the
#: plugins is what takes the time.
_SUMMARY = """
const [config, cases] = process.argv.slice(1);
const summaries = {};
for (const [index, [name, env]] of Object.entries(JSON.parse(cases)).entries()) {
  delete process.env.NODE_ENV;
  delete process.env.ROLLUP_WATCH;
  Object.assign(process.env, env);
  try {
    const { default: loaded } = await import(`${config}?case=${index}`);
    const plugins = loaded.plugins.filter(Boolean).map((plugin) => plugin.name);
    summaries[name] = { output: loaded.output, plugins };
  } catch (error) {
    summaries[name] = { error: error.message };
  }
}
console.log(JSON.stringify(summaries));
"""
CASES = {
    "production": {"NODE_ENV": "production"},
    "testing": {"NODE_ENV": "testing"},
    "unset": {},
    "development": {"NODE_ENV": "development"},
    "watch": {"ROLLUP_WATCH": "true"},
    "unknown": {"NODE_ENV": "staging"},
}


@pytest.fixture(scope="module")
def configs() -> dict[str, dict[str, Any]]:
    """What rollup.config.mjs exports under each case of CASES."""
    env = {k: v for k, v in os.environ.items() if k not in ("NODE_ENV", "ROLLUP_WATCH")}
    config = (FRONTEND / "rollup.config.mjs").as_uri()
    result = subprocess.run(  # noqa: S603 - Node with our own script
        [str(NODE), "--input-type=module", "-e", _SUMMARY, config, json.dumps(CASES)],
        cwd=FRONTEND,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    loaded: dict[str, dict[str, Any]] = json.loads(result.stdout)
    return loaded


@pytest.mark.parametrize("case", ["production", "testing", "unset"])
def test_production_builds_are_minified_hashed_and_without_source_maps(
    configs: dict[str, dict[str, Any]], case: str
) -> None:
    config = configs[case]
    assert config["output"]["sourcemap"] is False
    assert "[hash]" in config["output"]["entryFileNames"]
    assert "[hash]" in config["output"]["assetFileNames"]
    assert "terser" in config["plugins"]


def test_development_builds_are_unminified_with_source_maps(
    configs: dict[str, dict[str, Any]],
) -> None:
    config = configs["development"]
    assert config["output"]["sourcemap"] is True
    assert "terser" not in config["plugins"]
    assert "[hash]" in config["output"]["entryFileNames"]
    assert configs["watch"] == config


def test_an_unknown_node_env_stops_the_build(configs: dict[str, dict[str, Any]]) -> None:
    assert configs["unknown"] == {
        "error": 'NODE_ENV must be one of production, development, testing, not "staging".'
    }
