"""Lifetimes, moved by the injectable clock (never by sleeping)."""

from __future__ import annotations

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import app_client, bearer, login_pair, refresh_grant

pytestmark = pytest.mark.usefixtures("user")


async def test_access_token_expires_after_its_validity(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    pair = await login_pair(client)
    clock.advance(minutes=19, seconds=59)
    assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200
    clock.advance(seconds=1 + 5)  # past exp and the default 5 s leeway
    r = await client.get("/protected", headers=bearer(pair["access_token"]))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_leeway_absorbs_small_skew(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    pair = await login_pair(client)
    clock.advance(minutes=20, seconds=3)
    assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200


async def test_refresh_token_expires_unused(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    pair = await login_pair(client)
    clock.advance(minutes=60)
    r = await refresh_grant(client, pair["refresh_token"])
    assert r.json()["error"] == "invalid_grant"


async def test_refresh_slides_the_window(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    pair = await login_pair(client)
    for _ in range(3):
        clock.advance(minutes=50)
        r = await refresh_grant(client, pair["refresh_token"])
        assert r.status_code == 200
        pair = r.json()
        assert pair["refresh_expires_in"] == 3600


async def test_session_max_lifetime_caps_refreshing(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, session_max_lifetime_minutes=90) as client:
        pair = await login_pair(client)
        assert pair["session_expires_in"] == 90 * 60
        clock.advance(minutes=50)
        pair = (await refresh_grant(client, pair["refresh_token"])).json()
        assert pair["refresh_expires_in"] == 40 * 60  # never past the session's end
        clock.advance(minutes=40)
        r = await refresh_grant(client, pair["refresh_token"])
        assert r.json()["error"] == "invalid_grant"
        assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401


async def test_idle_session_ends_even_for_a_long_lived_access_token(settings: Settings, clock: FrozenClock) -> None:
    """With access validity longer than refresh validity, the session still ends idle."""
    async with app_client(settings, clock, access_token_validity_minutes=120) as client:
        pair = await login_pair(client)
        clock.advance(minutes=61)
        assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401


async def test_fractional_minutes(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, access_token_validity_minutes=0.05) as client:
        pair = await login_pair(client)
        assert pair["expires_in"] == 3
