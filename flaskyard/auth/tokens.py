"""Token issue and checks: claims, login families, rotation, and loading the caller's user."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from hmac import compare_digest
from typing import Any, Protocol

import jwt as pyjwt
from apiflask import APIFlask
from flask import Response, current_app, g, jsonify
from flask_jwt_extended import (
    JWTManager,
    create_access_token,
    create_refresh_token,
    decode_token,
    set_refresh_cookies,
)
from flask_jwt_extended.config import config as jwt_config
from flask_jwt_extended.exceptions import CSRFError, JWTDecodeError
from jwt.types import Options

from flaskyard.auth import principals
from flaskyard.auth.principals import generation_key
from flaskyard.auth.revocation import RedisStore, StoreUnavailable, get_store
from flaskyard.core.auth import Principal
from flaskyard.core.problems import Message, problem
from flaskyard.settings import current_settings
from flaskyard.users.services import UserSnapshot

FAMILY_CLAIM = "fam"
VERSION_CLAIM = "ver"
FAMILY_PREFIX = "family:"
#: A spent refresh token: not revoked (so replay reaches rotate()), but never spendable again.
USED_PREFIX = "used:"
#: Headers that would let a token choose its own key; we never honour them.
FORBIDDEN_HEADERS = frozenset({"jku", "jwk", "x5u", "x5c"})
#: Every token we issue has these; one without them is not ours (and could never expire).
REQUIRED_CLAIMS = frozenset({"sub", "jti", "type", "iat", "nbf", "exp", FAMILY_CLAIM})
#: Verified access tokens kept per process (the least recently used go first).
MAX_VERIFIED_TOKENS = 4096
VERIFIED_KEY = "flaskyard.verified_tokens"
#: ``g`` key: (jti, generation) from the revocation lookup, for the user loader that follows.
_GENERATION = "_flaskyard_user_generation"


class _VerifiedTokens:
    """Access tokens this app already verified in this process: token -> claims.

    Keyed by the whole encoded token, so only those exact bytes, whose signature was checked,
    ever match. Expiry is checked again on every use; revocation is not this cache's business
    (the blocklist callback runs on every request).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._claims: OrderedDict[str, dict[str, Any]] = OrderedDict()

    def get(self, token: str) -> dict[str, Any] | None:
        with self._lock:
            claims = self._claims.get(token)
            if claims is None:
                return None
            if claims["exp"] <= time.time() - jwt_config.leeway:
                del self._claims[token]  # the full decode says "expired" in its own words
                return None
            self._claims.move_to_end(token)
            return dict(claims)

    def put(self, token: str, claims: dict[str, Any]) -> None:
        with self._lock:
            self._claims[token] = dict(claims)
            while len(self._claims) > MAX_VERIFIED_TOKENS:
                self._claims.popitem(last=False)


class _SingleDecodeJWTManager(JWTManager):
    """Flask-JWT-Extended with at most one parse and one signature check per token.

    Its own decode parses a token three times (the claims unverified, to choose the key; the
    header; then the verified decode). Our key never depends on the token, so one
    ``decode_complete`` does it, then the same checks run on its header and claims; and an
    access token this process verified before is not verified again (``_VerifiedTokens``).
    Anything it refuses goes through Flask-JWT-Extended's own decode, so every error (and the
    expired token's header and claims for its callback) is exactly what the extension raises.
    """

    def _decode_jwt_from_config(
        self, encoded_token: str, csrf_value: str | None = None, allow_expired: bool = False
    ) -> dict[str, Any]:
        # Cookies (CSRF) and allow_expired are the refresh and logout paths: rare, not cached.
        verified: _VerifiedTokens | None = (
            current_app.extensions.get(VERIFIED_KEY)
            if csrf_value is None and not allow_expired
            else None
        )
        if verified is not None:
            cached = verified.get(encoded_token)
            if cached is not None:
                return cached
        options: Options = {
            "verify_aud": jwt_config.decode_audience is not None,
            "verify_sub": jwt_config.verify_sub,
        }
        if allow_expired:
            options["verify_exp"] = False
        try:
            complete = pyjwt.decode_complete(
                encoded_token,
                str(jwt_config.decode_key),
                algorithms=jwt_config.decode_algorithms,
                audience=jwt_config.decode_audience,
                issuer=jwt_config.decode_issuer,
                leeway=jwt_config.leeway,
                options=options,
            )
        except pyjwt.PyJWTError:
            decoded: dict[str, Any] = super()._decode_jwt_from_config(
                encoded_token, csrf_value, allow_expired
            )
            return decoded
        claims: dict[str, Any] = complete["payload"]
        _check_token(complete["header"], claims)
        if jwt_config.identity_claim_key not in claims:
            raise JWTDecodeError(f"Missing claim: {jwt_config.identity_claim_key}")
        claims.setdefault("type", "access")
        claims.setdefault("fresh", False)
        claims.setdefault("jti", None)
        if csrf_value:
            if "csrf" not in claims:
                raise JWTDecodeError("Missing claim: csrf")
            if not compare_digest(claims["csrf"], csrf_value):
                raise CSRFError("CSRF double submit tokens do not match")
        if verified is not None:
            verified.put(encoded_token, claims)
        return claims


jwt = _SingleDecodeJWTManager()


class TokenSubject(Protocol):
    """Whom a token pair is for: any signed-in user, or the account a sign-in just checked."""

    @property
    def id(self) -> uuid.UUID:
        """The user's id (the tokens' subject)."""

    @property
    def token_version(self) -> int:
        """The user's token version, bumped to sign them out everywhere."""


class UnusableTokenError(Exception):
    """The token names its own key or is otherwise unusable."""


def _seconds_left(claims: dict[str, Any]) -> int:
    return max(1, int(claims["exp"] - time.time()) + 1)


def issue_pair(user: TokenSubject, family: str | None = None) -> dict[str, Any]:
    """A new access and refresh token for ``user`` in login ``family`` (new login if None)."""
    claims = {FAMILY_CLAIM: family or uuid.uuid4().hex, VERSION_CLAIM: user.token_version}
    identity = str(user.id)
    access = create_access_token(identity=identity, additional_claims=claims)
    refresh = create_refresh_token(identity=identity, additional_claims=claims)
    return {
        "access_token": access,
        "refresh_token": refresh,
        "token_type": "Bearer",
        "expires_in": current_settings().JWT_ACCESS_TOKEN_EXPIRES,
    }


def pair_response(pair: dict[str, Any], *, cookie: bool) -> Response:
    """The pair as JSON; in cookie mode the refresh token goes to its HttpOnly cookie instead."""
    if not cookie:
        return jsonify(pair)
    refresh = pair.pop("refresh_token")
    response = jsonify(pair)
    set_refresh_cookies(response, refresh)
    return response


def revoke_family(claims: dict[str, Any]) -> None:
    """Kill every token of the login that ``claims`` belongs to, on every worker."""
    ttl = current_settings().JWT_REFRESH_TOKEN_EXPIRES
    get_store().revoke(FAMILY_PREFIX + claims[FAMILY_CLAIM], ttl)


def rotate(claims: dict[str, Any], user: Principal) -> dict[str, Any] | None:
    """Spend the refresh token ``claims`` once; None (and the family revoked) on reuse."""
    if not get_store().revoke_if_new(USED_PREFIX + claims["jti"], _seconds_left(claims)):
        revoke_family(claims)
        return None
    return issue_pair(user, family=claims[FAMILY_CLAIM])


def revoke_token(encoded: str, *, expected_identity: str) -> bool:
    """Revoke one encoded token of ``expected_identity``; False if it is not theirs or invalid."""
    try:
        claims = decode_token(encoded)
    except Exception:  # noqa: BLE001 - an unusable token needs no revoking
        return False
    if claims.get("sub") != expected_identity:
        return False
    get_store().revoke(claims["jti"], _seconds_left(claims))
    return True


def _unauthorized(detail: str) -> Response:
    return problem(401, detail, headers={"WWW-Authenticate": "Bearer"})


def _load_user(_header: dict[str, Any], claims: dict[str, Any]) -> UserSnapshot | None:
    try:
        user_id = uuid.UUID(str(claims["sub"]))
    except ValueError:
        return None
    # The generation read with the revocation lookup of this very token (None: none yet).
    checked = g.pop(_GENERATION, None)
    generation = checked[1] if checked is not None and checked[0] == claims["jti"] else None
    # Current on every request (kept in memory only while its generation holds), so role
    # changes and deactivation apply at once.
    user = principals.load(user_id, generation)
    if user is None or not user.active or user.token_version != claims.get(VERSION_CLAIM):
        return None
    return user


def _is_revoked(_header: dict[str, Any], claims: dict[str, Any]) -> bool:
    family = claims.get(FAMILY_CLAIM)
    if not family:
        return True  # every token we issue names its login
    keys = (claims["jti"], FAMILY_PREFIX + str(family))
    store = get_store()
    if isinstance(store, RedisStore) and claims.get("sub"):
        # The user's generation comes back in the same round trip, for _load_user.
        revoked, generation = store.any_revoked_with(keys, generation_key(str(claims["sub"])))
        setattr(g, _GENERATION, (claims["jti"], generation))
        return revoked
    return store.any_revoked(*keys)


def _check_token(header: dict[str, Any], claims: dict[str, Any]) -> None:
    if FORBIDDEN_HEADERS & set(header):
        raise UnusableTokenError("Tokens may not name their own key.")
    missing = sorted(REQUIRED_CLAIMS - set(claims))
    if missing:
        raise UnusableTokenError(f"The token lacks required claims: {', '.join(missing)}.")


def _decode_key(header: dict[str, Any], claims: dict[str, Any]) -> str:
    _check_token(header, claims)
    # Flask-JWT-Extended's own choice: the secret for HS*, the public key otherwise.
    return str(jwt_config.decode_key)


def init_app(app: APIFlask) -> None:
    """Bind JWTManager with our checks and problem+json errors."""
    jwt.init_app(app)
    app.extensions[VERIFIED_KEY] = _VerifiedTokens()
    principals.init_app(app)
    jwt.user_lookup_loader(_load_user)
    jwt.token_in_blocklist_loader(_is_revoked)
    jwt.decode_key_loader(_decode_key)
    jwt.unauthorized_loader(
        lambda reason: _unauthorized(Message("Authentication required: %(reason)s", reason=reason))
    )
    jwt.invalid_token_loader(
        lambda reason: _unauthorized(Message("The token is invalid: %(reason)s", reason=reason))
    )
    jwt.expired_token_loader(lambda _h, _c: _unauthorized("The token has expired."))
    jwt.revoked_token_loader(lambda _h, _c: _unauthorized("The token has been revoked."))
    jwt.user_lookup_error_loader(
        lambda _h, _c: _unauthorized("The account is inactive, gone, or signed out everywhere.")
    )
    app.register_error_handler(
        StoreUnavailable,
        lambda exc: problem(503, "Token revocation store is unavailable; try again shortly."),
    )
    app.register_error_handler(
        UnusableTokenError,
        lambda exc: _unauthorized(Message("The token is invalid: %(reason)s", reason=str(exc))),
    )
