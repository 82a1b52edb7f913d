"""Login rate limits: failures only, counted before the password hash, 429 with
Retry-After; a per-account back-off that never slows a client the account logged in
from, and a sliding per-IP window."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any
from contextlib import asynccontextmanager
from datetime import timedelta

import httpx
import pytest

from app.clock import FrozenClock
from app.oauth.ratelimit import LoginLimits, daily_budget
from app.settings import Settings
from pydantic import SecretStr

from tests.redis_support import fresh_redis_url
from tests.support import PASSWORD, app_client, bearer, create_user, login_pair, password_grant

ATTACKER = ("203.0.113.66", 4444)


@pytest.fixture(params=["sql", "redis"])
async def counters(request: pytest.FixtureRequest) -> str | None:
    """Each limit test runs with counters in the database and in Redis."""
    if request.param == "sql":
        return None
    return await fresh_redis_url()


def limited_app(settings: Settings, clock: FrozenClock, redis_url: str | None = None, **limits: object):  # type: ignore[no-untyped-def]
    if redis_url:
        limits["redis_url"] = SecretStr(redis_url)
    return app_client(settings, clock, peer=("198.51.100.1", 1), **limits)


@asynccontextmanager
async def from_ip(client: httpx.AsyncClient, peer: tuple[str, int]) -> AsyncIterator[httpx.AsyncClient]:
    """Another client of the same app, from another address."""
    transport = httpx.ASGITransport(app=client.app, client=peer)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as other:
        yield other


def count_hashes(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per password check that reached the hasher (a login's or a password change's)."""
    from app.security import passwords

    hashed: list[int] = []
    for name in ("check", "verify_and_update"):
        original = getattr(passwords.CryptPasswordHasher, name)

        async def spy(self: passwords.CryptPasswordHasher, *args: Any, _original: Any = original, **kw: Any) -> Any:
            hashed.append(1)
            return await _original(self, *args, **kw)

        monkeypatch.setattr(passwords.CryptPasswordHasher, name, spy)
    return hashed


@pytest.mark.usefixtures("user")
async def test_backoff_after_free_failures_is_checked_before_the_hash(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, counters: str | None
) -> None:
    hashed = count_hashes(monkeypatch)
    async with limited_app(settings, clock, counters, login_failures_before_backoff=3) as client:
        for _ in range(3):
            assert (await password_grant(client, password="wrong")).status_code == 400
        r = await password_grant(client)  # an unknown client waits, even with the right password
        assert r.status_code == 429
        assert r.headers["retry-after"] == "1"  # the first step of the back-off
        assert r.json()["error"] == "slow_down"
        r = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert r.status_code == 429
        assert len(hashed) == 3  # the limited attempts never reached the hash
        clock.advance(seconds=int(r.headers["retry-after"]))
        assert (await password_grant(client)).status_code == 200


@pytest.mark.usefixtures("user")
async def test_known_client_logs_in_despite_failures_from_elsewhere_in_any_letter_case(
    settings: Settings, clock: FrozenClock, counters: str | None
) -> None:
    async with limited_app(settings, clock, counters) as victim:
        await login_pair(victim)  # the victim's IP is now a known client of alice
        async with from_ip(victim, ATTACKER) as attacker:
            for i in range(60):  # 15 each as alice, ALICE, Alice and aLiCe
                name = ("alice", "ALICE", "Alice", "aLiCe")[i % 4]
                assert (await password_grant(attacker, username=name, password=f"guess{i}")).status_code in (400, 429)
            assert (await password_grant(attacker)).status_code == 429  # alice backs off for unknown clients
        assert (await password_grant(victim)).status_code == 200  # at once, no wait
        assert (await victim.post("/login", json={"username": "alice", "password": PASSWORD})).status_code == 200


async def test_successes_never_count(settings: Settings, clock: FrozenClock, counters: str | None) -> None:
    await create_user(settings)
    async with limited_app(settings, clock, counters, login_failures_before_backoff=3, login_attempts_per_ip=3) as client:
        for _ in range(20):
            assert (await password_grant(client)).status_code == 200
        # failures still count, from the first one: three pass, then the limits bite
        codes = [(await password_grant(client, password="wrong")).status_code for _ in range(4)]
        assert codes == [400, 400, 400, 429]


async def test_accounts_differing_only_in_case_have_separate_buckets(
    settings: Settings, clock: FrozenClock, counters: str | None
) -> None:
    await create_user(settings, "alice")
    await create_user(settings, "Alice", password="Alice's own password")
    async with limited_app(settings, clock, counters) as client:
        codes = [(await password_grant(client, username="Alice", password=f"guess{i}")).status_code for i in range(35)]
        assert codes == [400] * 10 + [429] * 25
        assert (await password_grant(client, username="Alice", password="Alice's own password")).status_code == 429
        assert (await password_grant(client, username="alice")).status_code == 200  # not slowed by Alice's


@pytest.mark.usefixtures("user")
async def test_backoff_doubles_and_bounds_the_daily_guess_budget(
    settings: Settings, clock: FrozenClock, counters: str | None
) -> None:
    """An attacker who tries again the moment Retry-After allows, for 24 hours, with the
    default settings: 10 free guesses, then waits of 1 s, 2 s … 1024 s, then 20 minutes."""
    start, guesses, waits = clock.now(), 0, []
    async with limited_app(settings, clock, counters) as client:
        while clock.now() - start < timedelta(days=1):
            r = await password_grant(client, password=f"guess{guesses}")
            if r.status_code == 400:
                guesses += 1
                assert guesses <= 100, "NIST SP 800-63B §5.2.2: at most 100"
                continue
            assert r.status_code == 429, r.text
            waits.append(int(r.headers["retry-after"]))
            clock.advance(seconds=waits[-1])
    assert waits[:11] == [2**k for k in range(11)]
    assert set(waits[11:]) == {1200}
    assert guesses == 91  # the budget README.md states: under NIST SP 800-63B's 100
    assert guesses == daily_budget(LoginLimits(
        enabled=True, failures_before_backoff=settings.login_failures_before_backoff,
        backoff_max=timedelta(seconds=settings.login_backoff_max_seconds), per_ip=settings.login_attempts_per_ip,
        window=timedelta(seconds=settings.login_attempts_window_seconds), known_for=timedelta(days=30),
    ))


@pytest.mark.usefixtures("user")
async def test_ip_window_slides_so_a_boundary_does_not_double_the_limit(
    settings: Settings, clock: FrozenClock, counters: str | None
) -> None:
    async with limited_app(settings, clock, counters, login_attempts_per_ip=5, login_attempts_window_seconds=300) as client:
        clock.advance(seconds=299)  # the last second of a fixed window (the clock starts on a boundary)
        codes = [(await password_grant(client, username=f"u{i}", password="x")).status_code for i in range(5)]
        assert codes == [400] * 5
        clock.advance(seconds=2)  # a new fixed window: the previous one still weighs 299/300
        r = await password_grant(client, username="u5", password="x")
        assert r.status_code == 429
        wait = int(r.headers["retry-after"])
        assert 0 < wait < 300
        clock.advance(seconds=wait)
        assert (await password_grant(client, username="u6", password="x")).status_code == 400
        assert (await password_grant(client, username="u7", password="x")).status_code == 429


async def test_password_change_is_limited_and_counted_before_the_hash(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, counters: str | None
) -> None:
    """A stolen access token buys no extra guesses at the current password."""
    await create_user(settings)
    hashed = count_hashes(monkeypatch)
    async with limited_app(settings, clock, counters) as client:
        token = (await login_pair(client))["access_token"]
        hashed.clear()
        change = {"current_password": "guess", "new_password": "a new password"}
        codes = []
        for i in range(12):
            change["current_password"] = f"guess{i}"
            r = await client.post("/user/password", json=change, headers=bearer(token))
            codes.append(r.status_code)
        assert codes == [400] * 10 + [429] * 2
        assert r.json()["error"] == "slow_down" and int(r.headers["retry-after"]) > 0
        assert len(hashed) == 10  # refused attempts never reached the hash
        assert (await password_grant(client)).status_code == 429  # one account, one back-off


async def test_password_change_counts_against_the_ip_limit(
    settings: Settings, clock: FrozenClock, counters: str | None
) -> None:
    await create_user(settings)
    async with limited_app(settings, clock, counters, login_attempts_per_ip=3) as client:
        token = (await login_pair(client))["access_token"]  # a success: not counted
        change = {"current_password": "guess", "new_password": "a new password"}
        codes = [(await client.post("/user/password", json=change, headers=bearer(token))).status_code for _ in range(4)]
        assert codes == [400, 400, 400, 429]


@pytest.mark.usefixtures("user")
async def test_full_hashing_queue_answers_at_once_with_503(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.security import passwords

    await create_user(settings, "bob")

    release = threading.Event()
    original = passwords.CryptContext.verify_and_update

    def blocking(self: passwords.CryptContext, secret: str, hashed: str) -> object:
        release.wait(10)
        return original(self, secret, hashed)

    monkeypatch.setattr(passwords.CryptContext, "verify_and_update", blocking)
    queued = count_hashes(monkeypatch)
    try:
        async with limited_app(settings, clock, password_hash_concurrency=1, password_hash_queue=1) as client:
            busy = [asyncio.create_task(password_grant(client, username="bob")) for _ in range(2)]  # one hashes, one waits
            while len(queued) < 2:  # both handed to the hasher
                await asyncio.sleep(0)
            r = await asyncio.wait_for(password_grant(client, password="wrong"), timeout=5)
            assert r.status_code == 503 and r.json()["error"] == "temporarily_unavailable"
            assert int(r.headers["retry-after"]) > 0
            assert not any(task.done() for task in busy)
            release.set()
            assert [r.status_code for r in await asyncio.gather(*busy)] == [200, 200]
            # the refused attempt was no guess: the account's free failures are all left
            codes = [(await password_grant(client, password="wrong")).status_code for _ in range(11)]
            assert codes == [400] * 10 + [429]
    finally:
        release.set()


@pytest.mark.usefixtures("user")
async def test_per_ip_limit_covers_many_usernames(settings: Settings, clock: FrozenClock, counters: str | None) -> None:
    async with limited_app(settings, clock, counters, login_attempts_per_ip=5) as client:
        codes = [(await password_grant(client, username=f"user{i}", password="x")).status_code for i in range(7)]
        assert codes == [400] * 5 + [429] * 2


@pytest.mark.usefixtures("user")
async def test_limits_can_be_switched_off(settings: Settings, clock: FrozenClock) -> None:
    async with limited_app(settings, clock, login_failures_before_backoff=1, rate_limit_enabled=False) as client:
        codes = [(await password_grant(client, password="x")).status_code for _ in range(3)]
        assert codes == [400, 400, 400]


@pytest.mark.parametrize(
    "trusted, forwarded, separate",
    [
        ("", "198.51.100.50", False),  # not a trusted proxy: the header is ignored
        ("198.51.100.0/24", "203.0.113.9, 203.0.113.77", True),  # right-most untrusted hop counts
    ],
)
@pytest.mark.usefixtures("user")
async def test_forwarded_for_only_from_trusted_proxies(
    settings: Settings, clock: FrozenClock, trusted: str, forwarded: str, separate: bool
) -> None:
    async with limited_app(settings, clock, login_attempts_per_ip=2, trusted_proxies=trusted) as client:
        for i in range(2):
            await password_grant(client, username=f"u{i}", password="x")
        r = await client.post(
            "/user/oauth/token",
            data={"grant_type": "password", "username": "u9", "password": "x"},
            headers={"X-Forwarded-For": forwarded},
        )
        assert r.status_code == (400 if separate else 429)


@pytest.mark.usefixtures("user")
async def test_unreachable_redis_fails_closed_with_503(settings: Settings, clock: FrozenClock) -> None:
    from tests.support import free_port

    async with limited_app(settings, clock, f"redis://127.0.0.1:{free_port()}/0") as client:
        r = await password_grant(client)
        assert r.status_code == 503 and int(r.headers["retry-after"]) > 0
