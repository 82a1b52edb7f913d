"""Asymmetric signing keys kept in the database, shared by every worker and replica.

Each mint asks which generation is active (one indexed query, on a path that writes
anyway), so every process switches to a new key the moment it activates; see
app.oauth.key_rotation for how keys are rotated. A key superseded by the next
generation verifies for `retire_after` (access lifetime + leeway + a margin) after it was
superseded, past the expiry of every token it signed; then it is retired: gone from the
JWKS and refused.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

import anyio

from app.clock import Clock
from app.security.jwk import (
    SigningKey,
    VerificationKey,
    generate_private_key,
    key_from_jwk,
    private_key_from_der,
    private_key_to_der,
    signing_key,
)
from app.security.key_cipher import KeyCipher, KeyDecryptionError
from app.security.tokens import new_secret
from app.store.server_secrets import SqlSecretStore
from app.store.signing_keys import KeyStore, StoredKey

RETIRE_MARGIN = timedelta(minutes=1)  # covers a mint that read the old generation just before the switch
CACHE_FOR = timedelta(seconds=60)  # how stale a verifying process's view of one key may get
UNKNOWN_FOR = timedelta(seconds=5)  # a kid we just failed to find is not looked up again meanwhile
MAX_CACHED = 256
DEV_KEK_NAME = "jwt_kek_dev"
KEK_MISMATCH = (
    "invalid setting: JWT_KEY_ENCRYPTION_KEY: the signing keys stored in the database do not decrypt "
    "with it; set the value they were stored with (nothing stored was changed)"
)


@dataclass(frozen=True)
class KeyPolicy:
    algorithm: str
    retire_after: timedelta

    @classmethod
    def for_lifetimes(cls, algorithm: str, access: timedelta, leeway: timedelta) -> KeyPolicy:
        return cls(algorithm, access + leeway + RETIRE_MARGIN)

    def retires_at(self, key: StoredKey) -> datetime | None:
        if key.retired_at is not None:
            return key.retired_at
        return None if key.superseded_at is None else key.superseded_at + self.retire_after

    def is_retired(self, key: StoredKey, now: datetime) -> bool:
        at = self.retires_at(key)
        return at is not None and now >= at


class CipherSource(Protocol):
    async def cipher(self) -> KeyCipher: ...

    async def existing(self) -> KeyCipher | None:
        """The cipher, if there is one already: never generates (and stores) a development key."""
        ...


class KeyEncryptionKey:
    """JWT_KEY_ENCRYPTION_KEY; in development, when unset, one generated once and stored
    beside the keys (which protects nothing, and says so: production requires the setting)."""

    def __init__(self, configured: str | None, store: SqlSecretStore, clock: Clock) -> None:
        self._configured = configured
        self._store = store
        self._clock = clock
        self._cipher: KeyCipher | None = None

    async def cipher(self) -> KeyCipher:
        if self._cipher is None:
            secret = self._configured or await self._store.get_or_create(
                DEV_KEK_NAME, new_secret(), self._clock.now()
            )
            self._cipher = KeyCipher(secret)
        return self._cipher

    async def existing(self) -> KeyCipher | None:
        if self._cipher is None and not self._configured:
            secret = await self._store.get(DEV_KEK_NAME)
            return None if secret is None else KeyCipher(secret)
        return await self.cipher()


async def check_stored_keys(store: KeyStore, kek: CipherSource, now: datetime) -> None:
    """Start-up: decrypt the keys this server would sign with (the active generation and
    the newest), so a wrong JWT_KEY_ENCRYPTION_KEY stops start-up instead of failing
    every token request. Reads only: a refused start changes nothing stored, not even a
    development key. Raises KeyDecryptionError."""
    found = [await store.active(now), await store.newest()]
    sealed = {k.kid: k for k in found if k is not None and k.private_key is not None}
    if not sealed:
        return  # nothing stored yet (or only retired halves): the first mint generates a key
    cipher = await kek.existing()
    if cipher is None:
        raise KeyDecryptionError("signing keys are stored, but JWT_KEY_ENCRYPTION_KEY is not set")
    for key in sealed.values():
        unseal(key, cipher)


def usable(key: StoredKey | None, algorithm: str) -> bool:
    return key is not None and key.algorithm == algorithm and key.private_key is not None and key.retired_at is None


def unseal(stored: StoredKey, cipher: KeyCipher) -> SigningKey:
    if stored.private_key is None:
        raise KeyDecryptionError(f"signing key {stored.kid} is retired")
    key = signing_key(private_key_from_der(cipher.decrypt(stored.private_key, stored.kid), stored.algorithm), stored.algorithm)
    if key.kid != stored.kid:
        raise KeyDecryptionError(f"signing key {stored.kid} does not match its stored public key")
    return key


async def install_next_key(
    store: KeyStore, cipher: KeyCipher, algorithm: str, now: datetime, after: StoredKey | None,
    activates_at: datetime | None = None,
) -> bool:
    """False when another process installed that generation first."""
    private = await anyio.to_thread.run_sync(generate_private_key, algorithm)  # RSA takes a while
    key = signing_key(private, algorithm)
    return await store.add(
        kid=key.kid, generation=(after.generation + 1) if after else 1, algorithm=algorithm,
        public_jwk=json.dumps(key.jwk, sort_keys=True),
        private_key=cipher.encrypt(private_key_to_der(private), key.kid), now=now,
        activates_at=activates_at or now,
    )


@dataclass(frozen=True)
class _Cached:
    key: VerificationKey
    retires_at: datetime | None
    checked_at: datetime


class StoredKeyRing:
    def __init__(self, store: KeyStore, kek: CipherSource, policy: KeyPolicy, clock: Clock) -> None:
        self._store = store
        self._kek = kek
        self._policy = policy
        self._clock = clock
        self._signer: SigningKey | None = None
        self._cache: dict[str, _Cached] = {}
        self._unknown: dict[str, datetime] = {}
        self._lock = asyncio.Lock()

    async def signing_key(self) -> SigningKey:
        current = await self._store.active(self._clock.now())
        if current is None or not usable(current, self._policy.algorithm):
            current = await self._install()
        if self._signer is None or self._signer.kid != current.kid:
            self._signer = unseal(current, await self._kek.cipher())
        return self._signer

    async def _install(self) -> StoredKey:
        """First use, or JWT_ALGORITHM changed: a new generation of the configured kind,
        active at once (nothing else could sign). Concurrent workers race on the unique
        generation; the losers adopt the winner's."""
        async with self._lock:
            current = await self._store.active(self._clock.now())
            if not usable(current, self._policy.algorithm):
                cipher = await self._kek.cipher()
                newest = await self._store.newest()
                await install_next_key(self._store, cipher, self._policy.algorithm, self._clock.now(), newest)
                current = await self._store.active(self._clock.now())
            if current is None or not usable(current, self._policy.algorithm):
                raise RuntimeError("no usable signing key: another server uses a different JWT_ALGORITHM")
            return current

    async def check(self) -> None:
        """See check_stored_keys: for the app's lifespan."""
        await check_stored_keys(self._store, self._kek, self._clock.now())

    async def verification_key(self, kid: str) -> VerificationKey | None:
        now = self._clock.now()
        hit = self._cache.get(kid)
        if hit is None or not hit.checked_at <= now < hit.checked_at + CACHE_FOR:
            missed = self._unknown.get(kid)
            if hit is None and missed is not None and missed <= now < missed + UNKNOWN_FOR:
                return None
            hit = await self._load(kid, now)
            if hit is None:
                return None
        if hit.retires_at is not None and now >= hit.retires_at:
            return None
        return hit.key

    async def _load(self, kid: str, now: datetime) -> _Cached | None:
        stored = await self._store.get(kid)
        if stored is None:
            if len(self._unknown) >= MAX_CACHED:
                self._unknown.clear()
            self._unknown[kid] = now
            return None
        if len(self._cache) >= MAX_CACHED:
            self._cache.clear()
        entry = _Cached(key_from_jwk(json.loads(stored.public_jwk)), self._policy.retires_at(stored), now)
        self._cache[kid] = entry
        return entry

    async def published(self) -> list[dict[str, str]]:
        now = self._clock.now()
        return [
            json.loads(k.public_jwk) for k in await self._store.unretired() if not self._policy.is_retired(k, now)
        ]
