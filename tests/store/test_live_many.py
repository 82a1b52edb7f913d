"""The session cache's batched read (`SqlSessionStore.live_many`), on the real database:
it answers for each session as `live` does, and many sessions first seen at once are
read in a few queries, not one each."""

from __future__ import annotations

import asyncio
from typing import Any

import jwt
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import app_client, bearer, login_pair

pytestmark = pytest.mark.usefixtures("user")


def sid_of(pair: dict[str, object]) -> str:
    return str(jwt.decode(str(pair["access_token"]), options={"verify_signature": False})["sid"])


async def test_live_many_answers_as_live_does(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock) as client:
        store = client.app.state.services.session_cache._inner  # type: ignore[attr-defined]
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


async def test_many_sessions_first_seen_at_once_share_queries(settings: Settings, clock: FrozenClock) -> None:
    n = 40
    settings = settings.model_copy(update={"rate_limit_enabled": False})  # 40 logins in a row
    async with app_client(settings, clock) as client:
        pairs = [await login_pair(client) for _ in range(n)]
        inner = client.app.state.services.session_cache._inner  # type: ignore[attr-defined]
        reads: list[int] = []
        real = inner.live_many

        async def counted(session_ids: Any, now: Any) -> Any:  # either path: the engine or the SQLite reader
            reads.append(len(session_ids))
            return await real(session_ids, now)

        inner.live_many = counted
        try:
            answers = await asyncio.gather(
                *(client.get("/protected", headers=bearer(p["access_token"])) for p in pairs)
            )
        finally:
            inner.live_many = real
        assert [a.status_code for a in answers] == [200] * n
        assert sum(reads) == n
        assert 1 <= len(reads) <= n // 4, f"{len(reads)} reads for {n} sessions"
