"""`python -m app keys rotate`: rotation without downtime, in three steps.

1. A new generation is installed, published in the JWKS at once but signing only from
   `activates_at` (default a minute later). Verifiers that cache the JWKS and refetch it
   at most every so often (PyJWKClient: 30 s) thus hold the new key before they meet a
   token signed with it.
2. From `activates_at` every process signs with it (app.oauth.stored_keys).
3. The old generation stays in the JWKS and verifies until every token it signed has
   expired; then it is retired, and the next rotation erases its private half.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from app.clock import Clock
from app.oauth.stored_keys import CipherSource, KeyPolicy, install_next_key, unseal, usable
from app.store.signing_keys import KeyStore, StoredKey

ACTIVATION_DELAY = timedelta(seconds=60)  # longer than PyJWKClient's 30 s refetch cooldown


@dataclass(frozen=True)
class Rotation:
    new: StoredKey
    verifying: list[StoredKey]  # older keys, still published until their retirement
    retired: list[str]


async def rotate_keys(
    store: KeyStore, kek: CipherSource, policy: KeyPolicy, clock: Clock,
    activate_in: timedelta = ACTIVATION_DELAY,
) -> Rotation:
    """Install a new generation that signs from `activate_in` on (at once when no key
    signs yet), then retire the keys whose tokens have all expired. The newest key is
    decrypted first: a wrong JWT_KEY_ENCRYPTION_KEY stops here, before it installs a key
    the servers could not read."""
    cipher = await kek.cipher()
    for _ in range(5):
        newest = await store.newest()
        if newest is not None and newest.private_key is not None:
            unseal(newest, cipher)
        now = clock.now()
        signing = await store.active(now)
        activates_at = now + activate_in if usable(signing, policy.algorithm) else now
        if await install_next_key(store, cipher, policy.algorithm, now, newest, activates_at):
            break
    else:
        raise RuntimeError("another rotation kept installing keys at the same time; try again")
    now = clock.now()
    expired = [k.kid for k in await store.unretired() if policy.is_retired(k, now)]
    await store.retire(expired, now)
    current = await store.unretired()
    return Rotation(new=current[0], verifying=current[1:], retired=expired)
