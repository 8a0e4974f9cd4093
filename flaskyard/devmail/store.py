"""Mail kept as one JSON file per message under ``<instance>/mailbox/``.

The web process and the worker both deliver mail, so the box is a folder that both can write.
Each message is written to a hidden file and renamed into place, so a reader never sees half
of one; names start with the time in nanoseconds, so sorting them sorts by time.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from flaskyard.database import utcnow
from flaskyard.settings import current_settings

FOLDER = "mailbox"
#: The box keeps the newest messages only; a development instance never needs more.
MAX_KEPT = 500
_LINK = re.compile(r"https?://[^\s<>\"']+")


def enabled() -> bool:
    """Whether this app keeps delivered mail (``DEV_MAILBOX``; development by default)."""
    return current_settings().dev_mailbox


def folder() -> Path:
    """Where this instance keeps its mail."""
    return current_settings().instance_dir / FOLDER


def links(body: str) -> list[str]:
    """The http(s) links in ``body``, in order, each once."""
    found = (match.rstrip(".,;:!?)") for match in _LINK.findall(body))
    return list(dict.fromkeys(found))


def keep(*, to: str, subject: str, body: str) -> dict[str, Any]:
    """Store one delivered message; return it as the mailbox lists it."""
    directory = folder()
    directory.mkdir(parents=True, exist_ok=True)
    ident = f"{time.time_ns():020d}-{uuid.uuid4().hex[:12]}"
    message = {
        "id": ident,
        "to": to,
        "subject": subject,
        "body": body,
        "sent_at": utcnow().isoformat(),
        "links": links(body),
    }
    partial = directory / f".{ident}.tmp"
    partial.write_text(json.dumps(message, ensure_ascii=False), encoding="utf-8")
    os.replace(partial, directory / f"{ident}.json")
    _prune(directory)
    return message


def _prune(directory: Path) -> None:
    names = sorted(directory.glob("*.json"))
    for path in names[:-MAX_KEPT]:
        path.unlink(missing_ok=True)


def messages() -> list[dict[str, Any]]:
    """Every kept message, newest first."""
    directory = folder()
    if not directory.is_dir():
        return []
    found = []
    for path in sorted(directory.glob("*.json"), reverse=True):
        try:
            found.append(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            continue  # pruned by another process since the listing
    return found
