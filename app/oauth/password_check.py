"""What a password check pays, so that every failed login costs the same.

A verification costs what its hash's scheme and parameters say (its cost, as
`PasswordHasher.cost_of` names it): argon2id at the server's parameters takes tens of
milliseconds, a legacy bcrypt hash at 12 rounds about ten times that. If a failure paid
only for the hash it met, its time would tell an unknown name (a dummy at the default
cost) from a user with a legacy hash, which the contract forbids: wrong password and
unknown user are indistinguishable in timing (docs/CONTRACT.md §3).

The rule: a check that fails has verified once at every cost in use — the stored hash
at its own cost, a dummy hash at each of the others; an unknown or disabled user, and a
stored hash the server cannot read (which costs nothing), pay a dummy at every one. A
check that succeeds stops at its own verification, so a right password is never slowed.

The costs in use are the hasher's own (that of every new hash) and those of the stored
hashes. The store is asked once per process, at the first check (a stored hash outside
the costs found so far, until there is none), and a cost met in a check later (a hash
imported while the server runs, or one beyond MAX_COSTS) joins at once. A cost stays in use while the process
lives: after the last legacy hash has been upgraded, failures pay for it until a restart,
which errs on the side of equal timing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol

from app.security.passwords import PasswordHasher

MAX_COSTS = 16  # distinct costs looked for in the store; real deployments have two or three


class StoredHashes(Protocol):
    async def hash_outside(self, prefixes: Sequence[str]) -> str | None: ...


class PasswordCheck:
    def __init__(self, hasher: PasswordHasher, stored: StoredHashes) -> None:
        self._hasher = hasher
        self._stored = stored
        self._costs: set[str] | None = None  # None until the store has been asked
        self._finding: asyncio.Lock | None = None

    async def verify(self, password: str, hashed: str | None) -> tuple[bool, str | None]:
        """(matches, upgraded hash or None). `hashed` None (no such user, or one who may
        not log in) never matches and costs what any failure costs."""
        costs = await self._in_use()
        own = None if hashed is None else self._hasher.cost_of(hashed)
        if own is not None:
            costs.add(own)
        return await self._hasher.check(password, hashed, dummies=sorted(costs - {own}))

    async def costs_in_use(self) -> frozenset[str]:
        return frozenset(await self._in_use())

    async def _in_use(self) -> set[str]:
        if self._costs is None:
            if self._finding is None:
                self._finding = asyncio.Lock()
            async with self._finding:  # concurrent first checks ask the store once
                if self._costs is None:
                    self._costs = await self._find_costs()
        return self._costs

    async def _find_costs(self) -> set[str]:
        costs = {self._hasher.default_cost}
        skipped: list[str] = []  # unreadable hashes: no cost of their own
        for _ in range(MAX_COSTS):
            found = await self._stored.hash_outside(sorted(costs) + skipped)
            if found is None:
                break
            cost = self._hasher.cost_of(found)
            if cost is None:
                skipped.append(found)
            else:
                costs.add(cost)
        return costs
