"""RFC 8725 attacks on the protected routes, with asymmetric keys: each one is a 401
with `error="invalid_token"`, never a 500 and never a 200."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from app.clock import FrozenClock
from app.security.jwk import SigningKey, b64url, generate_private_key, signing_key
from app.settings import Settings
from tests.support import app_client, bearer, login_pair
from tests.trust_support import raw_jwt

pytestmark = pytest.mark.usefixtures("user")


@pytest.fixture(params=["EdDSA", "RS256"])
def settings(settings: Settings, request: pytest.FixtureRequest) -> Settings:
    return settings.model_copy(update={"jwt_algorithm": request.param})


class Target:
    def __init__(self, http: httpx.AsyncClient, key: SigningKey, claims: dict[str, Any]) -> None:
        self.http, self.key, self.claims = http, key, claims

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        headers = {"typ": "at+jwt", "kid": self.key.kid, **header}
        headers = {k: v for k, v in headers.items() if v is not None}
        return jwt.encode(claims, self.key.private, algorithm=self.key.algorithm, headers=headers)


@pytest.fixture
async def target(settings: Settings, clock: FrozenClock) -> AsyncIterator[Target]:
    async with app_client(settings, clock) as http:
        pair = await login_pair(http)
        claims = jwt.decode(str(pair["access_token"]), options={"verify_signature": False})
        key = await http.app.state.services.keys.signing_key()  # type: ignore[attr-defined]
        assert (await http.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200
        assert (await http.get("/protected", headers=bearer(Target(http, key, claims).sign(claims)))).status_code == 200
        yield Target(http, key, claims)


def _hmac_with(secret: bytes, header: dict[str, Any], claims: dict[str, Any]) -> str:
    unsigned = raw_jwt(header, claims, b"").rsplit(".", 1)[0]
    signature = hmac.new(secret, unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{b64url(signature)}"


def _public_pem(key: SigningKey) -> bytes:
    return key.private.public_key().public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


ATTACKS: dict[str, Callable[[Target], str]] = {
    "alg-none": lambda t: raw_jwt({"alg": "none", "typ": "at+jwt", "kid": t.key.kid}, t.claims, b""),
    "hs256-with-public-key-pem": lambda t: _hmac_with(_public_pem(t.key), {"alg": "HS256", "typ": "at+jwt", "kid": t.key.kid}, t.claims),
    "hs256-with-public-jwk": lambda t: _hmac_with(json.dumps(t.key.jwk).encode(), {"alg": "HS256", "typ": "at+jwt", "kid": t.key.kid}, t.claims),
    "unknown-kid": lambda t: t.sign(t.claims, kid="k" * 43),
    "kid-path": lambda t: t.sign(t.claims, kid="../../../../dev/null"),
    "kid-sql": lambda t: t.sign(t.claims, kid="x' UNION SELECT public_jwk FROM signing_key --"),
    "kid-url": lambda t: t.sign(t.claims, kid="https://attacker.example/jwks.json"),
    "no-kid": lambda t: t.sign(t.claims, kid=None),
    "no-jti": lambda t: t.sign({k: v for k, v in t.claims.items() if k != "jti"}),
    "no-sid": lambda t: t.sign({k: v for k, v in t.claims.items() if k != "sid"}),
    "no-sub": lambda t: t.sign({k: v for k, v in t.claims.items() if k != "sub"}),
    "wrong-iss": lambda t: t.sign({**t.claims, "iss": "https://attacker.example"}),
    "no-iss": lambda t: t.sign({k: v for k, v in t.claims.items() if k != "iss"}),
    "wrong-aud": lambda t: t.sign({**t.claims, "aud": "some-other-api"}),
    "untyped": lambda t: t.sign(t.claims, typ=None),
    "id-token-typ": lambda t: t.sign(t.claims, typ="JWT"),
    "other-key-same-kid": lambda t: jwt.encode(
        t.claims, signing_key(generate_private_key(t.key.algorithm), t.key.algorithm).private,
        algorithm=t.key.algorithm, headers={"typ": "at+jwt", "kid": t.key.kid},
    ),
    "embedded-jwk": lambda t: _embedded(t),
    "alg-swapped": lambda t: raw_jwt(
        {"alg": "ES256" if t.key.algorithm != "ES256" else "EdDSA", "typ": "at+jwt", "kid": t.key.kid},
        t.claims, b"x" * 64,
    ),
}


def _embedded(t: Target) -> str:
    """RFC 8725 §3.10: a key shipped inside the token proves nothing."""
    mine = signing_key(generate_private_key(t.key.algorithm), t.key.algorithm)
    return jwt.encode(t.claims, mine.private, algorithm=mine.algorithm, headers={"typ": "at+jwt", "kid": mine.kid, "jwk": mine.jwk})


async def test_forged_tokens_are_401_never_500(target: Target) -> None:
    """One login, every attack (a login per attack would cost an argon2 hash each)."""
    wrong = {}
    for attack, forge in ATTACKS.items():
        token = forge(target)
        for path in ("/protected", "/user/me"):
            r = await target.http.get(path, headers=bearer(token))
            if r.status_code != 401 or 'error="invalid_token"' not in r.headers.get("www-authenticate", ""):
                wrong[f"{attack} {path}"] = (r.status_code, r.text)
        r = await target.http.post("/user/_logout", headers=bearer(token))
        if r.status_code != 401:
            wrong[f"{attack} logout"] = (r.status_code, r.text)
    assert not wrong
    r = await target.http.get("/protected", headers=bearer(target.sign(target.claims)))
    assert r.status_code == 200, "the genuine token still works after all that"


async def test_refresh_token_on_a_protected_route_is_401(target: Target, settings: Settings) -> None:
    pair = await login_pair(target.http)
    r = await target.http.get("/protected", headers=bearer(pair["refresh_token"]))
    assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
