"""Login counters on the driver path (app.store.attempts with the rotator: raw sqlite3
in the rotation thread, or one asyncpg statement) count into the same rows as through
SQLAlchemy, lose no attempt under concurrent logins, and fail closed. The store is built
here as the app builds it (`app.main.build_services`), from the app's engine and rotator."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone

import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.errors import ServiceUnavailable
from app.settings import Settings
from app.store.attempts import SqlAttemptStore
from app.store.tables import attempts
from tests.support import app_client, password_grant, writes_fail

WINDOW = datetime(2031, 5, 6, 7, 8, 0, tzinfo=timezone.utc)


async def test_both_paths_count_into_the_same_rows(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        assert services.rotator is not None
        store = SqlAttemptStore(services.engine, services.rotator)
        engine_only = SqlAttemptStore(services.engine)
        assert await store.hit(["user:a", "ip:b"], WINDOW) == [1, 1]
        assert await engine_only.hit(["user:a", "ip:b"], WINDOW) == [2, 2]
        assert await store.hit(["ip:b", "user:c"], WINDOW) == [3, 1]  # in the order asked
        assert await engine_only.hit(["user:c"], WINDOW) == [2]
        async with services.engine.connect() as conn:
            rows = (await conn.execute(select(attempts).order_by(attempts.c.bucket))).all()
        assert [tuple(r) for r in rows] == [("ip:b", WINDOW, 3), ("user:a", WINDOW, 2), ("user:c", WINDOW, 2)]


async def test_concurrent_logins_lose_no_attempt(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        store = SqlAttemptStore(services.engine, services.rotator)
        results = await asyncio.gather(*(store.hit(["user:x", f"ip:{i % 3}"], WINDOW) for i in range(60)))
        assert sorted(r[0] for r in results) == list(range(1, 61))  # every attempt counted once
        for ip in range(3):
            assert sorted(r[1] for i, r in enumerate(results) if i % 3 == ip) == list(range(1, 21))


@pytest.mark.usefixtures("user")
async def test_a_failed_count_refuses_the_login(settings: Settings, clock: FrozenClock) -> None:
    """Without counters a brute force would be unlimited: 503, no token, no session."""
    async with app_client(settings, clock) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        store = SqlAttemptStore(services.engine, services.rotator)
        async with writes_fail(services.engine, "login_attempt"):
            with pytest.raises(ServiceUnavailable):
                await store.hit(["user:y"], WINDOW)
            r = await password_grant(client)
            assert r.status_code == 503, r.text
            assert "access_token" not in r.text
        async with services.engine.connect() as conn:
            assert (await conn.execute(select(attempts))).all() == []
        assert (await password_grant(client)).status_code == 200
