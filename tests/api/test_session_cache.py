"""The per-process session cache: revocations by this process are immediate; another
process's logout is seen within SESSION_CHECK_INTERVAL_SECONDS (the contract's 1 s bound)."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import app_client, bearer, login_pair, refresh_grant

pytestmark = pytest.mark.usefixtures("user")


async def test_this_process_revocations_are_immediate_despite_the_cache(client: httpx.AsyncClient) -> None:
    for end in ("logout", "reuse", "logout_all"):
        pair = await login_pair(client)
        assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200  # cached
        if end == "logout":
            await client.post("/user/_logout", headers=bearer(pair["access_token"]))
        elif end == "reuse":
            await refresh_grant(client, pair["refresh_token"])
            await refresh_grant(client, pair["refresh_token"])
        else:
            await client.post("/user/_logout", params={"all": "true"}, headers=bearer(pair["access_token"]))
        assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401, end


async def test_another_process_logout_is_seen_within_the_interval(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, session_check_interval_seconds=0.3) as a, \
            app_client(settings, clock, session_check_interval_seconds=0.3) as b:
        pair = await login_pair(a)
        assert (await b.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200  # b caches
        assert (await a.post("/user/_logout", headers=bearer(pair["access_token"]))).status_code == 200
        assert (await a.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401
        await asyncio.sleep(0.35)  # the interval is wall-clock time by design: it bounds staleness
        assert (await b.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401


async def test_interval_zero_reads_the_session_every_time(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, session_check_interval_seconds=0) as a, \
            app_client(settings, clock, session_check_interval_seconds=0) as b:
        pair = await login_pair(a)
        assert (await b.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200
        await a.post("/user/_logout", headers=bearer(pair["access_token"]))
        assert (await b.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401
