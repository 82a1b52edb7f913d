"""Purging ended sessions: batched, and never touching a live session."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from sqlalchemy import func, select

from app.clock import FrozenClock
from app.db.engine import make_engine
from app.db.models import LoginAttempt, LoginBackoff, LoginSession, RefreshToken, table_of
from app.oauth.housekeeping import purge
from app.settings import Settings
from app.store.purge import SqlPurger
from tests.support import bearer, login_pair, password_grant, refresh_grant

pytestmark = pytest.mark.usefixtures("user")


async def count(settings: Settings, model: type) -> int:
    engine = make_engine(settings)
    try:
        async with engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(table_of(model)))).scalar_one())
    finally:
        await engine.dispose()


async def test_purge_removes_only_sessions_ended_before_the_retention(
    client: httpx.AsyncClient, settings: Settings, clock: FrozenClock
) -> None:
    logged_out = await login_pair(client)
    await client.post("/user/_logout", headers=bearer(logged_out["access_token"]))
    idle = await login_pair(client)
    await password_grant(client, password="wrong")  # a login-attempt counter row
    clock.advance(minutes=59)
    live = await login_pair(client)
    clock.advance(minutes=30)  # idle's refresh token lapsed 29 minutes ago; live is still live
    live = (await refresh_grant(client, live["refresh_token"])).json()
    engine = make_engine(settings)
    purger = SqlPurger(engine)
    try:
        kept = await purge(purger, clock, retention=timedelta(hours=2), attempt_window=timedelta(minutes=5))
        assert kept.sessions == 0  # nothing ended long enough ago
        assert kept.attempts >= 1  # login counters of windows long past
        result = await purge(purger, clock, retention=timedelta(minutes=10), attempt_window=timedelta(minutes=5), batch_size=1)
    finally:
        await engine.dispose()
    assert result.sessions == 2
    assert await count(settings, LoginSession) == 1
    assert await count(settings, RefreshToken) == 2  # live's used and current tokens
    assert await count(settings, LoginAttempt) == 0
    assert (await client.get("/protected", headers=bearer(live["access_token"]))).status_code == 200
    assert (await refresh_grant(client, live["refresh_token"])).status_code == 200
    # a purged session's token is simply unknown now
    assert (await refresh_grant(client, idle["refresh_token"])).json()["error"] == "invalid_grant"


async def test_purge_forgets_backoff_rows_quiet_for_the_known_client_period(
    client: httpx.AsyncClient, settings: Settings, clock: FrozenClock
) -> None:
    await login_pair(client)  # alice's account row, and this IP a known client of alice
    await password_grant(client, username="nobody", password="wrong")  # an account's failure
    assert await count(settings, LoginBackoff) == 3
    engine = make_engine(settings)
    purger = SqlPurger(engine)
    window, known_for = timedelta(minutes=5), timedelta(days=30)
    try:
        clock.advance(days=29)
        await purge(purger, clock, retention=timedelta(days=1), attempt_window=window, known_for=known_for)
        assert await count(settings, LoginBackoff) == 3
        clock.advance(days=2)
        await purge(purger, clock, retention=timedelta(days=1), attempt_window=window, known_for=known_for)
    finally:
        await engine.dispose()
    assert await count(settings, LoginBackoff) == 0
