"""supervisord event listener: stop the whole container when a program keeps dying.

Two ways a program "keeps dying": supervisord gives up on it (FATAL: it failed to start
``startretries`` times in a row), or it exits unexpectedly ``MAX_EXITS`` times within
``WINDOW_SECONDS`` after running longer than ``startsecs`` (which supervisord would restart
forever). Either way the listener leaves a marker for supervise.py and stops supervisord, which
stops the other program gracefully; supervise.py then exits 1.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections import defaultdict, deque
from pathlib import Path

from supervisor import childutils

MAX_EXITS = 3
WINDOW_SECONDS = 120.0


def _give_up(name: str, why: str) -> None:
    message = f"fatal_listener: {name} {why}; stopping the container."
    if os.environ.get("FLASKYARD_JSON_LOGS") == "1":
        message = json.dumps({"level": "ERROR", "name": "supervisord", "message": message})
    print(message, file=sys.stderr, flush=True)
    marker = os.environ.get("FLASKYARD_FATAL_MARKER")
    if marker:
        Path(marker).write_text(name + "\n", encoding="utf-8")
    os.kill(os.getppid(), signal.SIGTERM)  # supervisord stops the other program gracefully


def main() -> None:
    """Answer supervisord's events forever."""
    exits: defaultdict[str, deque[float]] = defaultdict(lambda: deque(maxlen=MAX_EXITS))
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        details, _ = childutils.eventdata(payload + "\n")
        name = details.get("processname", "a program")
        if headers["eventname"] == "PROCESS_STATE_FATAL":
            _give_up(name, "could not be started")
        elif headers["eventname"] == "PROCESS_STATE_EXITED" and details.get("expected") == "0":
            now = time.monotonic()
            exits[name].append(now)
            if len(exits[name]) == MAX_EXITS and now - exits[name][0] <= WINDOW_SECONDS:
                _give_up(name, f"exited {MAX_EXITS} times within {WINDOW_SECONDS:g} s")
        childutils.listener.ok(sys.stdout)


if __name__ == "__main__":
    main()
