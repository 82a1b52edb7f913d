"""A failed login costs the same whoever it names (app.oauth.password_check): the work
each attempt hands the hasher is counted, never timed."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import timedelta

import pytest

from app.clock import FrozenClock
from app.errors import InvalidGrant
from app.oauth.grants import PasswordGrant, TokenRequest
from app.oauth.password_check import PasswordCheck
from app.oauth.ratelimit import LoginLimits, LoginRateLimiter
from app.store.users import UserRecord

ARGON2, BCRYPT = "argon2:", "bcrypt:"  # a fake hash is its cost followed by its password


class CountingHasher:
    """Records the costs each check verifies at: the stored hash's own, then the dummies."""

    default_cost = ARGON2

    def __init__(self) -> None:
        self.checks: list[list[str]] = []

    def cost_of(self, hashed: str) -> str | None:
        cost = hashed.split(":")[0] + ":"
        return cost if ":" in hashed else None

    async def check(self, password: str, hashed: str | None, *, dummies: Collection[str]) -> tuple[bool, str | None]:
        own = None if hashed is None else self.cost_of(hashed)
        ok = own is not None and hashed == own + password
        self.checks.append(([own] if own else []) + ([] if ok else list(dummies)))
        return ok, None

    async def hash(self, password: str) -> str:
        return ARGON2 + password

    async def verify_and_update(self, password: str, hashed: str) -> tuple[bool, str | None]:
        raise AssertionError("a login checks through `check`")


class Users:
    def __init__(self, *users: UserRecord) -> None:
        self.by_name = {u.username: u for u in users}
        self.asked: list[list[str]] = []

    async def get_by_username(self, username: str) -> UserRecord | None:
        return self.by_name.get(username)

    async def hash_outside(self, prefixes: Sequence[str]) -> str | None:
        self.asked.append(list(prefixes))
        return next((u.password_hash for u in self.by_name.values()
                     if not any(u.password_hash.startswith(p) for p in prefixes)), None)


def user(uid: int, name: str, hashed: str, active: bool = True) -> UserRecord:
    return UserRecord(id=uid, username=name, password_hash=hashed, scope="read", is_active=active)


class Issued(Exception):
    """The fake issuer's answer: the login got as far as a session."""


class Issuer:
    async def start_session(self, **_: object) -> None:
        raise Issued()


def grant(users: Users, hasher: CountingHasher) -> PasswordGrant:
    limits = LoginLimits(enabled=False, failures_before_backoff=10, backoff_max=timedelta(seconds=1),
                         per_ip=10, window=timedelta(seconds=1), known_for=timedelta(days=1))
    limiter = LoginRateLimiter(limits, store=None, clock=FrozenClock())  # type: ignore[arg-type]
    return PasswordGrant(users=users, hasher=hasher, issuer=Issuer(), limiter=limiter)  # type: ignore[arg-type]


STORE = (
    user(1, "alice", ARGON2 + "right"), user(2, "bob", BCRYPT + "right"),
    user(3, "carol", ARGON2 + "right", active=False), user(4, "dave", "!locked"),
)


@pytest.mark.parametrize("name", ["mallory", "alice", "bob", "carol", "dave"])
async def test_every_failed_login_verifies_once_at_each_cost_in_use(name: str) -> None:
    """Unknown, argon2id and legacy bcrypt users, a disabled one and an unreadable hash:
    the same verifications, one at each cost, whichever was the real one."""
    hasher = CountingHasher()
    login = grant(Users(*STORE), hasher)
    with pytest.raises(InvalidGrant):
        await login(TokenRequest(grant_type="password", username=name, password="wrong"))
    assert [sorted(costs) for costs in hasher.checks] == [[ARGON2, BCRYPT]]


async def test_a_disabled_users_right_password_costs_what_a_failure_costs() -> None:
    hasher = CountingHasher()
    with pytest.raises(InvalidGrant):
        await grant(Users(*STORE), hasher)(TokenRequest(grant_type="password", username="carol", password="right"))
    assert [sorted(costs) for costs in hasher.checks] == [[ARGON2, BCRYPT]]


@pytest.mark.parametrize("name, cost", [("alice", ARGON2), ("bob", BCRYPT)])
async def test_a_right_password_pays_only_its_own_verification(name: str, cost: str) -> None:
    hasher = CountingHasher()
    with pytest.raises(Issued):
        await grant(Users(*STORE), hasher)(TokenRequest(grant_type="password", username=name, password="right"))
    assert hasher.checks == [[cost]]


async def test_without_legacy_hashes_a_failure_costs_one_verification() -> None:
    """A deployment that never imported a legacy hash pays nothing extra."""
    hasher = CountingHasher()
    login = grant(Users(user(1, "alice", ARGON2 + "right")), hasher)
    for name in ("mallory", "alice"):
        with pytest.raises(InvalidGrant):
            await login(TokenRequest(grant_type="password", username=name, password="wrong"))
    assert hasher.checks == [[ARGON2], [ARGON2]]


async def test_the_store_is_asked_once_and_a_cost_met_later_joins() -> None:
    users = Users(user(1, "alice", ARGON2 + "right"), user(4, "dave", "!locked"))
    hasher = CountingHasher()
    check = PasswordCheck(hasher, users)
    assert await check.costs_in_use() == {ARGON2}
    assert users.asked == [[ARGON2], [ARGON2, "!locked"]]  # the unreadable hash is skipped, not a cost
    await check.verify("wrong", BCRYPT + "imported later")
    assert await check.costs_in_use() == {ARGON2, BCRYPT}
    await check.verify("wrong", None)
    assert hasher.checks[-1] == [ARGON2, BCRYPT]
    assert len(users.asked) == 2
