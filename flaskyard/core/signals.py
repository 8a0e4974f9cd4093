"""Signals one domain sends and another reacts to, so neither imports the other for it.

Flask's own blinker namespace style: receivers connect in their ``init_app``.
"""

from __future__ import annotations

from blinker import Namespace

_signals = Namespace()

#: Sent (sender: the app) after an upload was committed; kwargs ``upload`` and ``owner``.
upload_stored = _signals.signal("upload-stored")
