"""Reading and forging JWTs without a key check, for the token and attack tests."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any


def b64url(data: bytes) -> str:
    """Unpadded base64url, as JWT segments are written."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(text: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
    return decoded


def unverified(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of ``token``, without checking anything."""
    header, payload, _ = token.split(".")
    return _segment(header), _segment(payload)


def hs256_with_any_key(header: dict[str, Any], claims: dict[str, Any], key: bytes) -> str:
    """Sign with HMAC-SHA256 and any key bytes (PyJWT refuses PEM keys as HMAC secrets)."""
    signing_input = ".".join(
        b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
    )
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64url(signature)}"
