"""What decode_access_token accepts: signed with the pinned algorithm and key, typed
`at+jwt`, with every required claim, the configured `iss` and `aud`, and NumericDate
times checked against the injected clock. Everything else, however malformed, is
InvalidToken and nothing else."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from app.clock import FrozenClock
from app.errors import InvalidToken
from app.security.jwt import decode_access_token, read_header

KEY = "k" * 48
CLOCK = FrozenClock()
NOW = int(CLOCK.now().timestamp())
CLAIMS = {"sub": "1", "sid": "s" * 32, "jti": "j", "scope": "a", "iat": NOW, "exp": NOW + 300}
HEADER = {"alg": "HS256", "typ": "at+jwt"}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def seg(value: Any) -> str:
    return b64(json.dumps(value).encode())


def sign(signing_input: str, key: str = KEY, digest: Any = hashlib.sha256) -> str:
    return b64(hmac.new(key.encode(), signing_input.encode(), digest).digest())


def token(header: Any = HEADER, claims: Any = CLAIMS, key: str = KEY, digest: Any = hashlib.sha256) -> str:
    signing_input = f"{seg(header)}.{seg(claims)}"
    return f"{signing_input}.{sign(signing_input, key, digest)}"


def with_claims(**changes: Any) -> dict[str, Any]:
    claims = dict(CLAIMS, **changes)
    return {k: v for k, v in claims.items() if v is not ...}


GOOD = token()
H, P, S = GOOD.split(".")
# deeply nested JSON: json.loads raises RecursionError on it, not ValueError
NESTED = b64(b"[" * 1100 + b"]" * 1100)

ACCEPTED: dict[str, tuple[str, dict[str, Any]]] = {
    "valid": (GOOD, {}),
    "valid-iss-aud": (token(claims=with_claims(iss="https://i", aud="api")), {"issuer": "https://i", "audience": "api"}),
    "aud-list": (token(claims=with_claims(iss="https://i", aud=["x", "api"])), {"issuer": "https://i", "audience": "api"}),
    "aud-empty-not-asked-for": (token(claims=with_claims(aud="")), {}),
    "nbf-now": (token(claims=with_claims(nbf=NOW + 5)), {}),  # within the leeway
}
REFUSED: dict[str, tuple[str, dict[str, Any]]] = {
    "aud-list-without-ours": (token(claims=with_claims(aud=["x", "y"])), {"audience": "api"}),
    "aud-not-asked-for": (token(claims=with_claims(aud="api")), {}),
    "aud-missing": (GOOD, {"audience": "api"}),
    "aud-number": (token(claims=with_claims(aud=5)), {"audience": "api"}),
    "iss-other": (token(claims=with_claims(iss="https://evil")), {"issuer": "https://i"}),
    "iss-missing": (GOOD, {"issuer": "https://i"}),
    "no-sid": (token(claims=with_claims(sid=...)), {}),
    "null-sid": (token(claims=with_claims(sid=None)), {}),
    "no-exp": (token(claims=with_claims(exp=...)), {}),
    "int-sub": (token(claims=with_claims(sub=5)), {}),
    "string-exp": (token(claims=with_claims(exp=str(NOW + 300))), {}),
    "string-iat": (token(claims=with_claims(iat=str(NOW))), {}),
    "boolean-iat": (token(claims=with_claims(iat=True)), {}),
    "string-nbf": (token(claims=with_claims(nbf=str(NOW))), {}),
    "nbf-future": (token(claims=with_claims(nbf=NOW + 60)), {}),
    "iat-future": (token(claims=with_claims(iat=NOW + 60)), {}),
    "expired": (token(claims=with_claims(exp=NOW - 60)), {}),
    "untyped": (token(header={"alg": "HS256"}), {}),
    "other-typ": (token(header={"alg": "HS256", "typ": "JWT"}), {}),
    "kid-path": (token(header=dict(HEADER, kid="../../etc/passwd")), {}),
    "kid-number": (token(header=dict(HEADER, kid=5)), {}),
    "tampered-signature": (f"{H}.{P}.{S[:-2]}{'AA' if not S.endswith('AA') else 'BB'}", {}),
    "tampered-payload": (f"{H}.{seg(with_claims(sub='2'))}.{S}", {}),
    "other-key": (token(key="x" * 48), {}),
    "alg-none": (f"{seg({'alg': 'none', 'typ': 'at+jwt'})}.{P}.", {}),
    "alg-hs512": (token(header={"alg": "HS512", "typ": "at+jwt"}, digest=hashlib.sha512), {}),
    "empty-signature": (f"{H}.{P}.", {}),
    "star-in-payload": (f"{H}.{P[:-1]}*.{S}", {}),
    "two-segments": (f"{H}.{P}", {}),
    "four-segments": (f"{GOOD}.{S}", {}),
    "payload-list": (token(claims=[CLAIMS]), {}),
    "payload-not-json": (f"{H}.{b64(b'{not json')}.{sign(H + '.' + b64(b'{not json'))}", {}),
    "header-list": (f"{seg([HEADER])}.{P}.{sign(seg([HEADER]) + '.' + P)}", {}),
    "header-not-base64": (f"{H}*.{P}.{S}", {}),
    "header-nested-json": (f"{NESTED}.{P}.{S}", {}),
    "payload-nested-json": (f"{H}.{NESTED}.{sign(H + '.' + NESTED)}", {}),
    "non-ascii": (f"{H}.{P}é.{S}", {}),
    "lone-surrogate": (f"{H}\ud800.{P}.{S}", {}),
    "oversized": ("x" * 5000, {}),
    "empty": ("", {}),
}


def decode(tok: str, **kw: Any) -> object:
    return decode_access_token(tok, key=KEY, algorithms=["HS256"], clock=CLOCK, leeway=5, **kw)


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_accepted(name: str) -> None:
    tok, kw = ACCEPTED[name]
    decode(tok, **kw)


@pytest.mark.parametrize("name", list(REFUSED))
def test_refused_with_invalid_token_only(name: str) -> None:
    tok, kw = REFUSED[name]
    with pytest.raises(InvalidToken):
        decode(tok, **kw)


def test_the_accepted_claims() -> None:
    tok, kw = ACCEPTED["aud-list"]
    claims = decode_access_token(tok, key=KEY, algorithms=["HS256"], clock=CLOCK, leeway=5, **kw)
    assert claims.aud == ("x", "api") and claims.iss == "https://i" and claims.sub == "1"
    assert int(claims.exp.timestamp()) - int(claims.iat.timestamp()) == 300


@pytest.mark.parametrize("header", [NESTED, b64(b"{" * 3000), b64(b'{"a":' * 600 + b"1" + b"}" * 600)])
def test_reading_the_header_of_any_garbage_is_invalid_token(header: str) -> None:
    with pytest.raises(InvalidToken):
        read_header(f"{header}.{P}.{S}")


@pytest.mark.parametrize("algorithm", ["HS256", "HS384", "HS512"])
def test_minted_tokens_are_what_pyjwt_encode_makes_and_an_asymmetric_key_is_no_hmac_secret(algorithm: str) -> None:
    from datetime import timedelta

    import jwt as pyjwt
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from app.security.jwt import encode_access_token

    minted = [
        encode_access_token(sub="1", sid="s" * 32, jti="j", scope="a", issued_at=CLOCK.now(), lifetime=timedelta(minutes=5),
                            key=KEY, algorithm=algorithm, kid="k1", issuer="https://auth.example", audience="api")
        for _ in range(2)  # the second with the secret already checked
    ]
    claims = {**CLAIMS, "iss": "https://auth.example", "aud": "api"}
    assert minted == [pyjwt.encode(claims, KEY, algorithm=algorithm, headers={"typ": "at+jwt", "kid": "k1"})] * 2
    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    for _ in range(2):
        with pytest.raises(pyjwt.InvalidKeyError):
            encode_access_token(sub="1", sid="s", jti="j", scope="a", issued_at=CLOCK.now(), lifetime=timedelta(minutes=5),
                                key=public, algorithm=algorithm)
