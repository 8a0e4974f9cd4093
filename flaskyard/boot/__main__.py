"""``python -m flaskyard.boot [ROLE|COMMAND] [ARGS...]``."""

from __future__ import annotations

import sys

from flaskyard.boot.roles import main

sys.exit(main())
