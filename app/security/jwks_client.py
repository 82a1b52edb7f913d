"""Verifying our access tokens elsewhere, from the JWKS URL alone: what another service
needs to trust a token without sharing a secret or calling us on every request.

The key set is cached; a token naming a `kid` the cache lacks makes it refetch (at most
once per `refetch_after`, so a flood of made-up kids cannot turn into a flood of
fetches), which is how a key rotation reaches every verifier without a restart. Only
asymmetric keys with an `alg` are taken from the set, and a token verifies only with
the algorithm of the key its `kid` names (RFC 8725 §2.1, §3.1).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Protocol

import httpx

from app.clock import Clock, SystemClock
from app.errors import InvalidToken, ServiceUnavailable
from app.security.jwk import VerificationKey, key_from_jwk
from app.security.jwt import AccessClaims, decode_access_token, read_header

log = logging.getLogger("app.jwks")


class JwksFetcher(Protocol):
    async def __call__(self, url: str) -> Mapping[str, object]: ...


class HttpJwksFetcher:
    def __init__(self, client: httpx.AsyncClient | None = None, timeout: float = 5) -> None:
        self._client = client or httpx.AsyncClient(timeout=timeout, follow_redirects=False)

    async def __call__(self, url: str) -> Mapping[str, object]:
        response = await self._client.get(url, headers={"Accept": "application/json"})
        response.raise_for_status()
        data = response.json()
        if not isinstance(data, dict):
            raise ValueError("the JWKS is not a JSON object")
        return data

    async def aclose(self) -> None:
        await self._client.aclose()


class RemoteKeySet:
    def __init__(
        self, url: str, *, fetch: JwksFetcher | None = None, clock: Clock | None = None,
        cache_for: timedelta = timedelta(minutes=5), refetch_after: timedelta = timedelta(seconds=1),
    ) -> None:
        self.url = url
        self._fetch = fetch or HttpJwksFetcher()
        self._clock = clock or SystemClock()
        self._cache_for = cache_for
        self._refetch_after = refetch_after
        self._keys: dict[str, VerificationKey] | None = None
        self._fetched_at: datetime | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str) -> VerificationKey | None:
        now = self._clock.now()
        if self._keys is None or self._due(now, self._cache_for):
            await self._refresh(now)
        elif kid not in self._keys and self._due(now, self._refetch_after):
            await self._refresh(now)
        return (self._keys or {}).get(kid)

    def _due(self, now: datetime, age: timedelta) -> bool:
        return self._fetched_at is None or not self._fetched_at <= now < self._fetched_at + age

    async def _refresh(self, now: datetime) -> None:
        started = self._fetched_at
        async with self._lock:
            if self._fetched_at != started:  # another request refreshed while we waited
                return
            try:
                data = await self._fetch(self.url)
            except (httpx.HTTPError, ValueError) as exc:
                log.warning("cannot fetch the JWKS at %s: %s", self.url, type(exc).__name__)
                if self._keys is None:
                    raise ServiceUnavailable("The token server's keys cannot be fetched.") from None
                self._fetched_at = now  # keep the keys we have; try again after refetch_after
                return
            self._keys = _parse(data)
            self._fetched_at = now


def _parse(data: Mapping[str, object]) -> dict[str, VerificationKey]:
    keys: dict[str, VerificationKey] = {}
    entries = data.get("keys")
    for jwk in entries if isinstance(entries, list) else []:
        try:
            key = key_from_jwk(jwk) if isinstance(jwk, dict) else None
        except (ValueError, TypeError):
            continue  # symmetric, unknown or malformed keys are never used
        if key is not None:
            keys[key.kid] = key
    return keys


class JwtVerifier:
    """The checks our own server makes, minus the session: signature by `kid`, type,
    `iss`, `aud`, `exp`/`iat` with leeway. Stateless, so a logout reaches it only when the
    access token expires; a service that must see revocation at once introspects instead."""

    def __init__(
        self, keys: RemoteKeySet, *, issuer: str, audience: str, clock: Clock | None = None, leeway: float = 5
    ) -> None:
        self.keys = keys
        self._issuer = issuer
        self._audience = audience
        self._clock = clock or SystemClock()
        self._leeway = leeway

    async def verify(self, token: str) -> AccessClaims:
        header = read_header(token)
        key = await self.keys.key(header.kid) if header.kid else None
        if key is None or header.alg != key.algorithm:
            raise InvalidToken()
        return decode_access_token(
            token, key=key.key, algorithms=[key.algorithm], clock=self._clock, leeway=self._leeway,
            issuer=self._issuer, audience=self._audience,
        )
