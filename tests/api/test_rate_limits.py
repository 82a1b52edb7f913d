"""Login rate limits: counted before the password hash, 429 with Retry-After, and they
expire, so nobody can lock an account for good."""

from __future__ import annotations

import pytest

from app.clock import FrozenClock
from app.settings import Settings
from pydantic import SecretStr

from tests.redis_support import fresh_redis_url
from tests.support import PASSWORD, app_client, password_grant


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


@pytest.mark.usefixtures("user")
async def test_per_username_limit_then_window_expiry(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch, counters: str | None
) -> None:
    from app.security import passwords

    hashed: list[int] = []
    original = passwords.CryptPasswordHasher.verify_and_update

    async def spy(self: passwords.CryptPasswordHasher, pw: str, h: str) -> tuple[bool, str | None]:
        hashed.append(1)
        return await original(self, pw, h)

    monkeypatch.setattr(passwords.CryptPasswordHasher, "verify_and_update", spy)
    async with limited_app(settings, clock, counters, login_failures_before_backoff=3, login_attempts_window_seconds=300) as client:
        for _ in range(3):
            assert (await password_grant(client, password="wrong")).status_code == 400
        r = await password_grant(client)  # even the right password waits out the window
        assert r.status_code == 429
        assert 0 < int(r.headers["retry-after"]) <= 300
        assert r.json()["error"] == "slow_down"
        r = await client.post("/login", json={"username": "alice", "password": PASSWORD})
        assert r.status_code == 429
        assert len(hashed) == 3  # the limited attempts never reached the hash
        clock.advance(seconds=int(r.headers["retry-after"]))
        assert (await password_grant(client)).status_code == 200


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
