"""Forged, altered, expired and misused tokens are 401: only the configured key and alg count."""

from __future__ import annotations

import json
import time
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask.testing import FlaskClient
from jwt.algorithms import RSAAlgorithm

from tests.support.api import ME, REFRESH, bearer, me_status, problem, tokens
from tests.support.factories import UserFactory
from tests.support.jwts import b64url, hs256_with_any_key, unverified

pytestmark = pytest.mark.usefixtures("roles")


def _pem_pair() -> tuple[str, str, rsa.RSAPrivateKey]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public, key


@pytest.fixture(scope="module")
def server_keys() -> tuple[str, str, rsa.RSAPrivateKey]:
    """The key pair an RS256 app signs with."""
    return _pem_pair()


@pytest.fixture(scope="module")
def attacker_keys() -> tuple[str, str, rsa.RSAPrivateKey]:
    """A key pair the server has never seen."""
    return _pem_pair()


@pytest.fixture
def rs256(app_config: dict[str, Any], server_keys: tuple[str, str, Any]) -> None:
    app_config["JWT_ALGORITHM"] = "RS256"
    app_config["JWT_PRIVATE_KEY"], app_config["JWT_PUBLIC_KEY"], _ = server_keys


@pytest.fixture
def alice(client: FlaskClient, make_user: UserFactory) -> dict[str, Any]:
    """alice's user object and a fresh token pair."""
    user = make_user("alice")
    pair = tokens(client, "alice")
    assert me_status(client, pair["access_token"]) == 200
    return {"user": user, **pair}


def _rejected(client: FlaskClient, token: str) -> None:
    response = client.get(ME, headers=bearer(token))
    problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_alg_none_is_rejected(client: FlaskClient, alice: dict[str, Any]) -> None:
    _, claims = unverified(alice["access_token"])
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    body = b64url(json.dumps(claims).encode())
    _rejected(client, f"{header}.{body}.")
    for alg in ("None", "NONE", "nOnE"):
        header = b64url(json.dumps({"alg": alg, "typ": "JWT"}).encode())
        _rejected(client, f"{header}.{body}.")
    head, original, _ = alice["access_token"].split(".")
    _rejected(client, f"{head}.{original}.")  # the real token with its signature cut off


@pytest.mark.usefixtures("rs256")
def test_rs256_works_end_to_end(
    client: FlaskClient, alice: dict[str, Any], server_keys: tuple[str, str, Any]
) -> None:
    header, claims = unverified(alice["access_token"])
    assert header["alg"] == "RS256"
    assert jwt.decode(alice["access_token"], server_keys[1], algorithms=["RS256"])["sub"] == str(
        alice["user"].id
    )
    assert client.post(REFRESH, headers=bearer(alice["refresh_token"])).status_code == 200
    assert claims["type"] == "access"


@pytest.mark.usefixtures("rs256")
def test_hs256_signed_with_the_public_key_is_rejected(
    client: FlaskClient, alice: dict[str, Any], server_keys: tuple[str, str, Any]
) -> None:
    _, claims = unverified(alice["access_token"])
    public_pem = server_keys[1]
    for key in (public_pem.encode(), public_pem.strip().encode()):
        _rejected(client, hs256_with_any_key({"alg": "HS256", "typ": "JWT"}, claims, key))


def test_other_keys_and_algorithms_on_an_hs256_app_are_rejected(
    client: FlaskClient, alice: dict[str, Any], attacker_keys: tuple[str, str, Any]
) -> None:
    _, claims = unverified(alice["access_token"])
    _rejected(client, jwt.encode(claims, attacker_keys[0], algorithm="RS256"))
    _rejected(client, jwt.encode(claims, "secret-" * 10, algorithm="HS256"))
    _rejected(client, jwt.encode(claims, "secret-" * 10, algorithm="HS512"))


def test_tampered_payload_is_rejected(
    client: FlaskClient, alice: dict[str, Any], make_user: UserFactory
) -> None:
    bob = make_user("bob")
    head, _, signature = alice["access_token"].split(".")
    _, claims = unverified(alice["access_token"])
    for change in ({"sub": str(bob.id)}, {"exp": claims["exp"] + 3600}, {"fam": "0" * 32}):
        forged = b64url(json.dumps({**claims, **change}, separators=(",", ":")).encode())
        _rejected(client, f"{head}.{forged}.{signature}")


def _jwk(public_key: Any) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(RSAAlgorithm.to_jwk(public_key))
    return jwk


@pytest.mark.parametrize("app_alg", ["HS256", "RS256"])
def test_embedded_jwk_is_not_trusted(
    client: FlaskClient,
    app_config: dict[str, Any],
    server_keys: tuple[str, str, Any],
    attacker_keys: tuple[str, str, Any],
    app_alg: str,
    request: pytest.FixtureRequest,
) -> None:
    if app_alg == "RS256":
        request.getfixturevalue("rs256")
    pair: dict[str, Any] = request.getfixturevalue("alice")
    _, claims = unverified(pair["access_token"])
    attacker_private, _, attacker_key = attacker_keys
    headers = {"jwk": _jwk(attacker_key.public_key()), "kid": "attacker"}
    _rejected(client, jwt.encode(claims, attacker_private, algorithm="RS256", headers=headers))


@pytest.mark.usefixtures("rs256")
def test_jku_and_x5u_headers_are_not_trusted(
    client: FlaskClient,
    alice: dict[str, Any],
    server_keys: tuple[str, str, Any],
    attacker_keys: tuple[str, str, Any],
) -> None:
    _, claims = unverified(alice["access_token"])
    for name in ("jku", "x5u"):
        headers = {name: "https://attacker.example/keys.json", "kid": "attacker"}
        _rejected(client, jwt.encode(claims, attacker_keys[0], algorithm="RS256", headers=headers))
        # Even correctly signed: a token may not point at its own key.
        _rejected(client, jwt.encode(claims, server_keys[0], algorithm="RS256", headers=headers))
    own = {"jwk": _jwk(server_keys[2].public_key())}
    _rejected(client, jwt.encode(claims, server_keys[0], algorithm="RS256", headers=own))


def _resigned(app_config: dict[str, Any], token: str, **changes: Any) -> str:
    _, claims = unverified(token)
    return jwt.encode({**claims, **changes}, app_config["JWT_SECRET_KEY"], algorithm="HS256")


def test_expired_and_not_yet_valid_tokens_are_rejected(
    client: FlaskClient, app_config: dict[str, Any], alice: dict[str, Any]
) -> None:
    # The forging helper itself works, so the rejections below are about the time claims.
    assert me_status(client, _resigned(app_config, alice["access_token"])) == 200
    now = int(time.time())
    token = _resigned(app_config, alice["access_token"], iat=now - 960, nbf=now - 960, exp=now - 60)
    body = problem(client.get(ME, headers=bearer(token)), 401)
    assert "expired" in body["detail"].lower()
    _rejected(client, _resigned(app_config, alice["access_token"], exp=now - 1))
    _rejected(client, _resigned(app_config, alice["access_token"], nbf=now + 300))


def _without(app_config: dict[str, Any], token: str, claim: str) -> str:
    _, claims = unverified(token)
    stripped = {k: v for k, v in claims.items() if k != claim}
    return jwt.encode(stripped, app_config["JWT_SECRET_KEY"], algorithm="HS256")


def test_token_missing_its_login_or_subject_is_rejected(
    client: FlaskClient, app_config: dict[str, Any], alice: dict[str, Any]
) -> None:
    for claim in ("fam", "sub"):
        _rejected(client, _without(app_config, alice["access_token"], claim))


def test_token_missing_exp_or_jti_is_rejected(
    client: FlaskClient, app_config: dict[str, Any], alice: dict[str, Any]
) -> None:
    for claim in ("exp", "jti"):
        _rejected(client, _without(app_config, alice["access_token"], claim))


def test_wrong_token_types_garbage_and_missing_tokens(
    client: FlaskClient, alice: dict[str, Any]
) -> None:
    _rejected(client, alice["refresh_token"])  # a refresh token is not an access token
    problem(client.post(REFRESH, headers=bearer(alice["access_token"])), 401)  # nor vice versa
    for token in ("garbage", "a.b.c", alice["access_token"] + "x", ""):
        problem(client.get(ME, headers=bearer(token)), 401)
    problem(client.get(ME), 401)
    problem(client.get(ME, headers={"Authorization": alice["access_token"]}), 401)
