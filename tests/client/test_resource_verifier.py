"""authclient.resource's verifier: the JWKS cache (fetch once, refetch on an unknown kid
but not on every one) and the checks built on it, with a fake fetcher, a frozen clock and
tokens minted as the token server mints them."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import httpx
import pytest

from app.clock import FrozenClock
from app.security.jwk import SigningKey, generate_private_key, signing_key
from app.security.jwt import encode_access_token
from authclient.resource import InvalidToken, JwtVerifier, RemoteKeySet, ServiceUnavailable

ISSUER, AUDIENCE = "https://as.example", "authserver"


class FakeJwks:
    def __init__(self, *keys: SigningKey) -> None:
        self.keys = list(keys)
        self.fetches = 0
        self.down = False

    async def __call__(self, url: str) -> Mapping[str, object]:
        self.fetches += 1
        if self.down:
            raise httpx.ConnectError("down")
        return {"keys": [k.jwk for k in self.keys] + [{"kty": "oct", "k": "c2VjcmV0", "kid": "hmac", "alg": "HS256"}]}


def mint(key: SigningKey, clock: FrozenClock, **kw: str) -> str:
    return encode_access_token(
        sub="7", sid="s" * 32, jti="j", scope="read write", issued_at=clock.now(), lifetime=timedelta(minutes=20),
        key=key.private, algorithm=key.algorithm, kid=kw.get("kid", key.kid), client_id="app",
        issuer=kw.get("issuer", ISSUER), audience=kw.get("audience", AUDIENCE),
    )


def verifier(jwks: FakeJwks, clock: FrozenClock) -> JwtVerifier:
    keys = RemoteKeySet("https://as.example/.well-known/jwks.json", fetch=jwks, clock=clock)
    return JwtVerifier(keys, issuer=ISSUER, audience=AUDIENCE, clock=clock)


async def test_verifies_with_the_cached_set_and_refetches_on_a_new_kid() -> None:
    clock = FrozenClock()
    old, new = (signing_key(generate_private_key("EdDSA"), "EdDSA") for _ in range(2))
    jwks = FakeJwks(old)
    check = verifier(jwks, clock)
    claims = await check.verify(mint(old, clock))
    assert claims.sub == "7" and claims.scopes == ("read", "write") and claims.client_id == "app"
    await check.verify(mint(old, clock))
    assert jwks.fetches == 1
    jwks.keys.append(new)  # the server rotated
    clock.advance(seconds=2)
    assert (await check.verify(mint(new, clock))).sid == "s" * 32
    assert jwks.fetches == 2


async def test_made_up_kids_do_not_cause_a_fetch_each() -> None:
    clock = FrozenClock()
    key = signing_key(generate_private_key("ES256"), "ES256")
    jwks = FakeJwks(key)
    check = verifier(jwks, clock)
    await check.verify(mint(key, clock))
    for n in range(20):
        with pytest.raises(InvalidToken):
            await check.verify(mint(key, clock, kid=f"made-up-{n}"))
    assert jwks.fetches == 1


async def test_tokens_for_another_issuer_or_audience_or_an_hmac_key_are_refused() -> None:
    clock = FrozenClock()
    key = signing_key(generate_private_key("EdDSA"), "EdDSA")
    check = verifier(FakeJwks(key), clock)
    for token in (mint(key, clock, issuer="https://evil.example"), mint(key, clock, audience="other")):
        with pytest.raises(InvalidToken):
            await check.verify(token)
    import jwt

    hs = jwt.encode({"sub": "7"}, "secret" * 8, algorithm="HS256", headers={"typ": "at+jwt", "kid": "hmac"})
    with pytest.raises(InvalidToken):
        await check.verify(hs)


async def test_an_unreachable_jwks_is_503_at_first_and_the_cache_afterwards() -> None:
    clock = FrozenClock()
    key = signing_key(generate_private_key("EdDSA"), "EdDSA")
    jwks = FakeJwks(key)
    jwks.down = True
    check = verifier(jwks, clock)
    with pytest.raises(ServiceUnavailable):
        await check.verify(mint(key, clock))
    jwks.down = False
    await check.verify(mint(key, clock))
    jwks.down = True
    clock.advance(minutes=6)  # the cache is stale and the server is down: keep what we have
    assert (await check.verify(mint(key, clock))).sub == "7"
