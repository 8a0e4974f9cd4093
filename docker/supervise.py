"""Run supervisord for the all-in-one role; exit 1 when one of its programs died for good.

supervisord always exits 0 after a shutdown, so fatal_listener.py leaves a marker file
before it stops supervisord, and this wrapper turns the marker into the exit status.
With JSON logs (production), supervisord's own lines are JSON too, like its programs'.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from supervisor import loggers, supervisord

from flaskyard.config import ConfigError, load_settings

CONFIG = Path(__file__).with_name("supervisord.conf")


class JsonLine:
    """A supervisord log format (``fmt % record``) that writes the app's JSON line shape."""

    def __mod__(self, record: dict[str, Any]) -> str:
        line = {
            "time": record["asctime"],
            "level": record["levelname"],
            "name": "supervisord",
            "message": str(record["message"]).rstrip("\n"),
        }
        return json.dumps(line) + "\n"


def json_logs() -> bool:
    """Whether the settings ask for JSON log lines (production's default)."""
    try:
        return load_settings().log_format == "json"
    except ConfigError:
        return False  # boot has already reported the configuration; keep supervisord's text


def log(message: str) -> None:
    """One line of this wrapper's own on stderr, in the configured format."""
    if json_logs():
        print(
            json.dumps({"level": "ERROR", "name": "supervisord", "message": message}),
            file=sys.stderr,
        )
    else:
        print(message, file=sys.stderr)


def _use_json_lines() -> None:
    stdout_handler = loggers.handle_stdout

    def handle_stdout(logger: Any, fmt: str) -> None:
        stdout_handler(logger, JsonLine())  # type: ignore[arg-type]

    loggers.handle_stdout = handle_stdout


def main() -> int:
    """Run supervisord in the foreground until it stops."""
    marker = Path(tempfile.gettempdir()) / "flaskyard-fatal"
    marker.unlink(missing_ok=True)
    os.environ["FLASKYARD_FATAL_MARKER"] = str(marker)
    if json_logs():
        _use_json_lines()
        os.environ["FLASKYARD_JSON_LOGS"] = "1"  # for fatal_listener.py
    supervisord.main(["--nodaemon", "--configuration", str(CONFIG)])
    if marker.exists():
        name = marker.read_text(encoding="utf-8").strip()
        log(f"flaskyard all-in-one: {name} kept failing; exiting 1.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
