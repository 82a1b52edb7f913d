"""The session cache's batched read (`SqlSessionStore.live_many`), on the real database:
it answers for each session as `live` does, and many sessions first seen at once are
read in a few queries, not one each."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest

from app.clock import FrozenClock
from app.oauth.session_cache import CachingSessionStore
from app.settings import Settings
from app.store.sessions import LiveSession, SqlSessionStore
from tests.support import app_client, bearer, login_pair

pytestmark = pytest.mark.usefixtures("user")


def sid_of(pair: dict[str, object]) -> str:
    return str(jwt.decode(str(pair["access_token"]), options={"verify_signature": False})["sid"])


async def test_live_many_answers_as_live_does(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock) as client:
        services = client.app.state.services  # type: ignore[attr-defined]
        store = SqlSessionStore(services.engine, services.rotator, services.reader)  # as the app builds it
        pairs = [await login_pair(client) for _ in range(4)]
        ids = [sid_of(p) for p in pairs]
        r = await client.post("/user/_logout", headers=bearer(pairs[1]["access_token"]))
        assert r.status_code in (200, 204), r.text
        asked = [*ids, "no-such-session"]
        found = await store.live_many(asked, clock.now())
        assert sorted(found) == sorted([ids[0], ids[2], ids[3]])
        for sid in asked:
            one = await store.live(sid, clock.now())
            assert one == found.get(sid)
        assert found[ids[0]].username == "alice" and found[ids[0]].ends_at is not None
        clock.advance(days=400)  # past every session's end
        assert await store.live_many(ids, clock.now()) == {}


class CountedReads(SqlSessionStore):
    """The app's session store, counting the sessions of each batched read it is asked for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.reads: list[int] = []

    async def live_many(self, session_ids: list[str], now: Any) -> dict[str, LiveSession]:
        self.reads.append(len(session_ids))
        return await super().live_many(session_ids, now)


async def test_many_sessions_first_seen_at_once_share_queries(settings: Settings, clock: FrozenClock) -> None:
    """The session cache in front of the real store (as the app puts it there): forty
    sessions asked for at once, none cached yet, are read in a few batched queries."""
    n = 40
    settings = settings.model_copy(update={"rate_limit_enabled": False})  # 40 logins in a row
    async with app_client(settings, clock) as client:
        pairs = [await login_pair(client) for _ in range(n)]
        services = client.app.state.services  # type: ignore[attr-defined]
        store = CountedReads(services.engine, services.rotator, services.reader)
        cache = CachingSessionStore(store, clock, settings.session_check_interval_seconds)
        ids = [sid_of(p) for p in pairs]
        found = await asyncio.gather(*(cache.live(sid, clock.now()) for sid in ids))
        assert [s.id if s else None for s in found] == ids
        assert sum(store.reads) == n
        assert 1 <= len(store.reads) <= n // 4, f"{len(store.reads)} reads for {n} sessions"
