"""The token server's public keys, from its JWKS URL (RFC 7517).

The key set is cached; a token naming a `kid` the cache lacks makes it refetch (at most
once per `refetch_after`, so a flood of made-up kids cannot turn into a flood of
fetches), which is how a key rotation reaches every service without a restart. Only
asymmetric signing keys with an `alg` are taken from the set, each for its own algorithm
alone (RFC 8725 §2.1, §3.1): a symmetric key in a JWKS would be a key anyone can read.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt import PyJWK
from jwt.exceptions import PyJWTError

from authclient.resource.errors import ServiceUnavailable
from authclient.resource.tokens import Clock, SystemClock

log = logging.getLogger("authclient.resource")

ASYMMETRIC_ALGORITHMS = ("EdDSA", "ES256", "RS256")  # what the token server signs with
MIN_RSA_BITS = 2048  # RFC 7518 §3.3


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    algorithm: str
    key: Any  # a cryptography public key


def key_from_jwk(jwk: Mapping[str, object]) -> VerificationKey:
    """A public signing JWK of a supported algorithm whose key fits it; ValueError for
    anything else (symmetric keys, other curves, RSA under 2048 bits, no kid)."""
    algorithm, kid = jwk.get("alg"), jwk.get("kid")
    if algorithm not in ASYMMETRIC_ALGORITHMS or jwk.get("use", "sig") != "sig":
        raise ValueError("not a signing key of a supported algorithm")
    if not isinstance(kid, str) or not kid:
        raise ValueError("a key without a kid cannot be chosen by a token")
    try:
        key = PyJWK(dict(jwk), str(algorithm)).key
    except (PyJWTError, KeyError) as exc:  # PyJWT's own, and a member missing in from_jwk
        raise ValueError(type(exc).__name__) from None
    fits = {
        "EdDSA": isinstance(key, ed25519.Ed25519PublicKey),
        "ES256": isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1),
        "RS256": isinstance(key, rsa.RSAPublicKey) and key.key_size >= MIN_RSA_BITS,
    }
    if not fits[str(algorithm)]:
        raise ValueError(f"the key is not a public {algorithm} key")
    return VerificationKey(kid, str(algorithm), key)


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

    @property
    def empty(self) -> bool:
        """Fetched, and not one usable key in it: what a server signing with a shared
        secret (HS256) publishes."""
        return self._keys is not None and not self._keys

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
