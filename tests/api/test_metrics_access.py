"""/metrics: behind METRICS_TOKEN when set, off (404) in production without it, and
cheap to scrape (the session count is read once per COUNT_TTL)."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import SecretStr

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import bearer, app_client


async def test_metrics_need_the_metrics_token_when_it_is_set(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, metrics_token=SecretStr("m" * 32)) as client:
        r = await client.get("/metrics")
        assert r.status_code == 401 and r.headers["www-authenticate"].startswith("Bearer")
        r = await client.get("/metrics", headers=bearer("wrong"))
        assert r.status_code == 401 and 'error="invalid_token"' in r.headers["www-authenticate"]
        r = await client.get("/metrics", headers=bearer("m" * 32))
        assert r.status_code == 200 and "authserver_active_sessions" in r.text


async def test_metrics_are_off_in_production_without_a_token(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, app_env="production") as client:
        assert (await client.get("/metrics")).status_code == 404
    async with app_client(settings, clock, app_env="production", metrics_token=SecretStr("m" * 32)) as client:
        assert (await client.get("/metrics", headers=bearer("m" * 32))).status_code == 200


async def test_the_session_count_is_read_once_per_ttl(
    settings: Settings, clock: FrozenClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with app_client(settings, clock) as client:
        admin = client.app.state.services.session_admin  # type: ignore[attr-defined]
        calls: list[Any] = []
        real = admin.count_live

        async def counting(now: Any) -> int:
            calls.append(now)
            return int(await real(now))

        monkeypatch.setattr(admin, "count_live", counting)
        for _ in range(5):
            assert (await client.get("/metrics")).status_code == 200
        assert len(calls) == 1
        clock.advance(seconds=16)
        assert (await client.get("/metrics")).status_code == 200
        assert len(calls) == 2
