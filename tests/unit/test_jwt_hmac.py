"""HS* access tokens are verified without PyJWT (app.security.jwt._verify_hmac, for
speed). Checked here against PyJWT itself: the same `decode_access_token`, once on our
path and once forced onto PyJWT's (a second, identical pinned algorithm), over valid,
forged and malformed tokens. Ours must accept exactly what PyJWT accepts, except a few
things we never mint (extension headers, base64 padding), which only ours refuses."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

import pytest

from app.clock import FrozenClock
from app.errors import InvalidToken
from app.security.jwt import decode_access_token

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

CASES: dict[str, tuple[str, dict[str, Any]]] = {
    "valid": (GOOD, {}),
    "valid-iss-aud": (token(claims=with_claims(iss="https://i", aud="api")), {"issuer": "https://i", "audience": "api"}),
    "aud-list": (token(claims=with_claims(iss="https://i", aud=["x", "api"])), {"issuer": "https://i", "audience": "api"}),
    "aud-list-without-ours": (token(claims=with_claims(aud=["x", "y"])), {"audience": "api"}),
    "aud-not-asked-for": (token(claims=with_claims(aud="api")), {}),
    "aud-empty-not-asked-for": (token(claims=with_claims(aud="")), {}),
    "aud-missing": (GOOD, {"audience": "api"}),
    "aud-number": (token(claims=with_claims(aud=5)), {"audience": "api"}),
    "iss-other": (token(claims=with_claims(iss="https://evil")), {"issuer": "https://i"}),
    "iss-missing": (GOOD, {"issuer": "https://i"}),
    "no-sid": (token(claims=with_claims(sid=...)), {}),
    "null-sid": (token(claims=with_claims(sid=None)), {}),
    "no-exp": (token(claims=with_claims(exp=...)), {}),
    "int-sub": (token(claims=with_claims(sub=5)), {}),
    "tampered-signature": (f"{H}.{P}.{S[:-2]}{'AA' if not S.endswith('AA') else 'BB'}", {}),
    "tampered-payload": (f"{H}.{seg(with_claims(sub='2'))}.{S}", {}),
    "other-key": (token(key="x" * 48), {}),
    "alg-none": (f"{seg({'alg': 'none', 'typ': 'at+jwt'})}.{P}.", {}),
    "alg-hs512": (token(header={"alg": "HS512", "typ": "at+jwt"}, digest=hashlib.sha512), {}),
    "empty-signature": (f"{H}.{P}.", {}),
    "padded-payload": (f"{H}.{P}=.{S}", {}),
    "star-in-payload": (f"{H}.{P[:-1]}*.{S}", {}),
    "space-in-payload": (f"{H}.{P[:5]} {P[5:]}.{S}", {}),
    "std-base64-signature": (f"{H}.{P}.{S.replace('-', '+').replace('_', '/')}", {}),
    "two-segments": (f"{H}.{P}", {}),
    "four-segments": (f"{GOOD}.{S}", {}),
    "payload-list": (token(claims=[CLAIMS]), {}),
    "payload-not-json": (f"{H}.{b64(b'{not json')}.{sign(H + '.' + b64(b'{not json'))}", {}),
    "header-list": (f"{seg([HEADER])}.{P}.{sign(seg([HEADER]) + '.' + P)}", {}),
    "non-ascii": (f"{H}.{P}é.{S}", {}),
    "expired": (token(claims=with_claims(exp=NOW - 60)), {}),
}
# Refused by ours only: extension headers (RFC 7515 §4.1.11 / RFC 7797) we never mint,
# and padding, which base64url in a JWS never has (RFC 7515 §2; PyJWT tolerates it).
STRICTER = {
    "padded-signature": (f"{H}.{P}.{S}=", {}),
    "crit-b64": (token(header=dict(HEADER, crit=["b64"], b64=True)), {}),
    "b64-true": (token(header=dict(HEADER, b64=True)), {}),
}


def verdict(tok: str, algorithms: list[str], **kw: Any) -> bool:
    try:
        decode_access_token(tok, key=KEY, algorithms=algorithms, clock=CLOCK, leeway=5, **kw)
    except InvalidToken:
        return True
    return False  # not refused


@pytest.mark.parametrize("name", list(CASES))
def test_ours_refuses_exactly_what_pyjwt_refuses(name: str) -> None:
    tok, kw = CASES[name]
    ours, reference = verdict(tok, ["HS256"], **kw), verdict(tok, ["HS256", "HS256"], **kw)
    assert ours == reference
    assert ours == (name not in ("valid", "valid-iss-aud", "aud-list", "aud-empty-not-asked-for"))


@pytest.mark.parametrize("name", list(STRICTER))
def test_extension_headers_are_refused(name: str) -> None:
    tok, kw = STRICTER[name]
    assert verdict(tok, ["HS256"], **kw)


def test_the_accepted_claims_are_pyjwts() -> None:
    tok, kw = CASES["aud-list"]
    ours = decode_access_token(tok, key=KEY, algorithms=["HS256"], clock=CLOCK, leeway=5, **kw)
    reference = decode_access_token(tok, key=KEY, algorithms=["HS256", "HS256"], clock=CLOCK, leeway=5, **kw)
    assert ours == reference and ours.aud == ("x", "api") and ours.iss == "https://i"
