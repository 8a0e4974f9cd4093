"""Run supervisord for the all-in-one role; exit 1 when one of its programs died for good.

supervisord always exits 0 after a shutdown, so fatal_listener.py leaves a marker file
before it stops supervisord, and this wrapper turns the marker into the exit status.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from supervisor import supervisord

CONFIG = Path(__file__).with_name("supervisord.conf")


def main() -> int:
    """Run supervisord in the foreground until it stops."""
    marker = Path(tempfile.gettempdir()) / "flaskyard-fatal"
    marker.unlink(missing_ok=True)
    os.environ["FLASKYARD_FATAL_MARKER"] = str(marker)
    supervisord.main(["--nodaemon", "--configuration", str(CONFIG)])
    if marker.exists():
        name = marker.read_text(encoding="utf-8").strip()
        print(f"flaskyard all-in-one: {name} kept failing; exiting 1.", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
