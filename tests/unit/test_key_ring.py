"""The database key ring with an in-memory store and a frozen clock: first use, rotation,
the retirement window, algorithm changes, concurrent first use."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime, timedelta

import pytest

from app.clock import FrozenClock
from app.oauth.key_rotation import rotate_keys
from app.oauth.stored_keys import KeyPolicy, StoredKeyRing
from app.security.key_cipher import KeyCipher, KeyDecryptionError
from app.store.signing_keys import StoredKey

ACCESS = timedelta(minutes=20)
LEEWAY = timedelta(seconds=5)


class MemoryKeyStore:
    def __init__(self) -> None:
        self.rows: dict[str, StoredKey] = {}
        self.gets = 0

    def _view(self, key: StoredKey) -> StoredKey:
        later = [k.activates_at for k in self.rows.values() if k.generation > key.generation]
        return replace(key, superseded_at=min(later) if later else None)

    async def newest(self) -> StoredKey | None:
        rows = sorted(self.rows.values(), key=lambda k: -k.generation)
        return self._view(rows[0]) if rows else None

    async def active(self, now: datetime) -> StoredKey | None:
        rows = sorted((k for k in self.rows.values() if k.activates_at <= now), key=lambda k: -k.generation)
        return self._view(rows[0]) if rows else None

    async def get(self, kid: str) -> StoredKey | None:
        self.gets += 1
        return self._view(self.rows[kid]) if kid in self.rows else None

    async def unretired(self) -> list[StoredKey]:
        return [k for k in await self.all() if k.retired_at is None]

    async def all(self) -> list[StoredKey]:
        return [self._view(k) for k in sorted(self.rows.values(), key=lambda k: -k.generation)]

    async def add(
        self, *, kid: str, generation: int, algorithm: str, public_jwk: str, private_key: str,
        now: datetime, activates_at: datetime,
    ) -> bool:
        await asyncio.sleep(0)  # let concurrent callers interleave, as a database would
        if any(k.generation == generation for k in self.rows.values()):
            return False
        self.rows[kid] = StoredKey(kid, generation, algorithm, public_jwk, private_key, now, activates_at, None, None)
        return True

    async def retire(self, kids: list[str], now: datetime) -> int:
        for kid in kids:
            self.rows[kid] = replace(self.rows[kid], retired_at=now, private_key=None)
        return len(kids)


class FixedKek:
    def __init__(self, secret: str = "k" * 40) -> None:
        self._cipher = KeyCipher(secret)

    async def cipher(self) -> KeyCipher:
        return self._cipher


def ring(store: MemoryKeyStore, clock: FrozenClock, algorithm: str = "EdDSA", kek: FixedKek | None = None) -> StoredKeyRing:
    policy = KeyPolicy.for_lifetimes(algorithm, ACCESS, LEEWAY)
    return StoredKeyRing(store, kek or FixedKek(), policy, clock)  # type: ignore[arg-type]


async def test_first_use_generates_one_key_even_when_workers_race() -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    workers = [ring(store, clock) for _ in range(5)]
    keys = await asyncio.gather(*(w.signing_key() for w in workers))
    assert len(store.rows) == 1
    assert len({k.kid for k in keys}) == 1


async def test_rotation_publishes_first_signs_later_and_retires_after_the_last_token_expires() -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    keys = ring(store, clock)
    old = await keys.signing_key()
    policy = KeyPolicy.for_lifetimes("EdDSA", ACCESS, LEEWAY)
    rotation = await rotate_keys(store, FixedKek(), policy, clock)  # type: ignore[arg-type]
    # published at once, so verifiers can fetch it before they meet it...
    assert [j["kid"] for j in await keys.published()] == [rotation.new.kid, old.kid]
    assert (await keys.signing_key()).kid == old.kid  # ...but not signing for a minute
    clock.advance(seconds=60)
    new = await keys.signing_key()
    assert new.kid == rotation.new.kid != old.kid
    clock.advance(ACCESS + LEEWAY)  # every token the old key signed has expired by now...
    assert await keys.verification_key(old.kid) is not None  # ...but the margin is not over
    clock.advance(minutes=1)
    assert await keys.verification_key(old.kid) is None
    assert [j["kid"] for j in await keys.published()] == [new.kid]
    # the next rotation marks it retired and erases its private half
    third = await rotate_keys(store, FixedKek(), policy, clock, timedelta(0))  # type: ignore[arg-type]
    assert third.retired == [old.kid] and store.rows[old.kid].private_key is None
    assert (await keys.signing_key()).kid == third.new.kid  # --activate-in 0: at once


async def test_the_first_key_signs_at_once_even_from_rotate() -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    rotation = await rotate_keys(store, FixedKek(), KeyPolicy.for_lifetimes("EdDSA", ACCESS, LEEWAY), clock)  # type: ignore[arg-type]
    assert (await ring(store, clock).signing_key()).kid == rotation.new.kid


async def test_changing_the_algorithm_installs_a_new_generation() -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    ed = await ring(store, clock, "EdDSA").signing_key()
    es_ring = ring(store, clock, "ES256")
    es = await es_ring.signing_key()
    assert es.algorithm == "ES256" and len(store.rows) == 2
    assert (await es_ring.verification_key(ed.kid)) is not None  # EdDSA tokens still verify for a while


async def test_unknown_kids_are_not_looked_up_again_and_again() -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    keys = ring(store, clock)
    for _ in range(10):
        assert await keys.verification_key("made-up") is None
    assert store.gets == 1
    clock.advance(seconds=6)
    assert await keys.verification_key("made-up") is None
    assert store.gets == 2


async def test_a_key_minted_elsewhere_is_found_by_its_kid() -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    signer, verifier = ring(store, clock), ring(store, clock)
    await verifier.signing_key()
    await rotate_keys(store, FixedKek(), KeyPolicy.for_lifetimes("EdDSA", ACCESS, LEEWAY), clock, timedelta(0))  # type: ignore[arg-type]
    new = await signer.signing_key()
    assert await verifier.verification_key(new.kid) == new.public


async def test_a_wrong_encryption_key_fails_loudly_and_rotation_refuses_to_add_keys() -> None:
    store, clock = MemoryKeyStore(), FrozenClock()
    await ring(store, clock).signing_key()
    with pytest.raises(KeyDecryptionError):
        await ring(store, clock, kek=FixedKek("other" * 10)).signing_key()
    with pytest.raises(KeyDecryptionError):
        await rotate_keys(store, FixedKek("other" * 10), KeyPolicy.for_lifetimes("EdDSA", ACCESS, LEEWAY), clock)  # type: ignore[arg-type]
    assert len(store.rows) == 1
