"""Signing keys: RFC 7638 kids, JWKs other libraries read, private keys sealed at rest,
and the header checks that run before any key is looked up (RFC 8725)."""

from __future__ import annotations

from datetime import timedelta

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from joserfc.jwk import JWKRegistry

from app.clock import FrozenClock
from app.errors import InvalidToken
from app.security.jwk import (
    generate_private_key,
    hmac_signing_key,
    key_from_jwk,
    load_pem_private_key,
    private_key_from_der,
    private_key_to_der,
    signing_key,
)
from app.security.jwt import decode_access_token, encode_access_token, read_header
from app.security.key_cipher import KeyCipher, KeyDecryptionError
from tests.trust_support import raw_jwt

ALGORITHMS = ["EdDSA", "ES256", "RS256"]


@pytest.fixture(scope="module", params=ALGORITHMS)
def key(request: pytest.FixtureRequest):  # type: ignore[no-untyped-def]
    return signing_key(generate_private_key(request.param), request.param)


def test_kid_is_the_rfc7638_thumbprint_other_libraries_compute(key) -> None:  # type: ignore[no-untyped-def]
    theirs = JWKRegistry.import_key({k: v for k, v in key.jwk.items() if k not in ("kid", "alg", "use")})
    assert theirs.thumbprint() == key.kid
    assert key.jwk["alg"] == key.algorithm and key.jwk["use"] == "sig"
    assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key.jwk), "a public JWK must not carry private members"


def test_published_jwk_verifies_what_the_private_key_signs(key) -> None:  # type: ignore[no-untyped-def]
    clock = FrozenClock()
    token = encode_access_token(
        sub="1", sid="s" * 32, jti="j", scope="read", issued_at=clock.now(), lifetime=timedelta(minutes=5),
        key=key.private, algorithm=key.algorithm, kid=key.kid, issuer="https://as", audience="api",
    )
    assert read_header(token).kid == key.kid
    public = key_from_jwk(key.jwk)
    claims = decode_access_token(
        token, key=public.key, algorithms=[public.algorithm], clock=clock, leeway=5, issuer="https://as", audience="api",
    )
    assert claims.aud == ("api",) and claims.iss == "https://as" and claims.scopes == ("read",)
    # PyJWT, as any third party would, reads the same JWK
    assert pyjwt.PyJWK(key.jwk).key_id == key.kid


def test_private_key_survives_der_round_trip(key) -> None:  # type: ignore[no-untyped-def]
    again = signing_key(private_key_from_der(private_key_to_der(key.private), key.algorithm), key.algorithm)
    assert again.kid == key.kid


@pytest.mark.parametrize(
    "jwk",
    [
        {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "x"},  # symmetric keys are never taken
        {"kty": "OKP", "crv": "Ed25519", "x": "AAAA", "alg": "HS256", "kid": "x"},
        {"kty": "OKP", "crv": "X25519", "x": "AAAA", "alg": "EdDSA", "kid": "x"},
        {"kty": "EC", "crv": "P-256", "x": "AAAA", "y": "AAAA", "alg": "ES256", "kid": "x"},  # not on the curve
    ],
)
def test_unusable_jwks_are_refused(jwk: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        key_from_jwk(jwk)


def test_jwk_whose_kid_is_not_its_thumbprint_is_refused(key) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        key_from_jwk({**key.jwk, "kid": "someone-elses-kid"})


def test_keys_must_fit_their_algorithm() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    for private, algorithm in [(weak, "RS256"), (p384, "ES256"), (generate_private_key("EdDSA"), "ES256")]:
        with pytest.raises(ValueError):
            signing_key(private, algorithm)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        load_pem_private_key(b"not a key", "EdDSA")


def test_hmac_kid_changes_with_the_secret_and_hides_it() -> None:
    a, b = hmac_signing_key("s" * 48, "HS256"), hmac_signing_key("t" * 48, "HS256")
    assert a.kid != b.kid and "s" * 8 not in a.kid and a.jwk is None


def test_sealed_private_keys_open_only_with_the_same_key_and_kid() -> None:
    sealed = KeyCipher("k" * 40).encrypt(b"private der", "kid-1")
    assert KeyCipher("k" * 40).decrypt(sealed, "kid-1") == b"private der"
    with pytest.raises(KeyDecryptionError):
        KeyCipher("other" * 10).decrypt(sealed, "kid-1")
    with pytest.raises(KeyDecryptionError):
        KeyCipher("k" * 40).decrypt(sealed, "kid-2")  # copied to another row
    with pytest.raises(KeyDecryptionError):
        KeyCipher("k" * 40).decrypt("v9.abc", "kid-1")


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "EdDSA", "typ": "at+jwt", "kid": "../../../../etc/passwd"},
        {"alg": "EdDSA", "typ": "at+jwt", "kid": "x' OR '1'='1"},
        {"alg": "EdDSA", "typ": "at+jwt", "kid": "https://evil.example/jwks.json"},
        {"alg": "EdDSA", "typ": "at+jwt", "kid": "k" * 65},
        {"alg": "EdDSA", "typ": "JWT", "kid": "abc"},  # an ID token or any other JWT
        {"alg": "EdDSA", "kid": "abc"},
    ],
)
def test_header_checks_run_before_any_key_lookup(header: dict[str, str]) -> None:
    token = raw_jwt(header, {"sub": "1"})
    with pytest.raises(InvalidToken):
        read_header(token)
