"""The session cache's rules, with a fake store whose reads the test controls."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from app.clock import FrozenClock
from app.oauth.session_cache import CachingSessionStore
from app.store.sessions import LiveSession


class SlowStore:
    def __init__(self) -> None:
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.ends_at: datetime | None = None

    async def live(self, session_id: str, now: datetime) -> LiveSession | None:
        self.reads += 1
        await self.gate.wait()
        return LiveSession(session_id, 7, "alice", "profile", self.ends_at)


def cache(store: SlowStore, clock: FrozenClock, interval: float = 60) -> CachingSessionStore:
    return CachingSessionStore(store, clock, interval)  # type: ignore[arg-type]


async def test_concurrent_misses_share_one_read() -> None:
    store, clock = SlowStore(), FrozenClock()
    store.gate.clear()
    c = cache(store, clock)
    waiting = [asyncio.create_task(c.live("s1", clock.now())) for _ in range(50)]
    await asyncio.sleep(0)
    store.gate.set()
    assert all(r is not None for r in await asyncio.gather(*waiting))
    assert store.reads == 1
    await c.live("s1", clock.now())
    assert store.reads == 1  # served from the cache


async def test_a_read_that_started_before_an_eviction_is_not_kept() -> None:
    store, clock = SlowStore(), FrozenClock()
    store.gate.clear()
    c = cache(store, clock)
    in_flight = asyncio.create_task(c.live("s1", clock.now()))
    while store.reads == 0:  # until the read is really under way
        await asyncio.sleep(0)
    c.evict_user(7)  # e.g. logout everywhere while the read is under way
    store.gate.set()
    await in_flight
    await c.live("s1", clock.now())
    assert store.reads == 2  # read again, not served from the pre-eviction result


async def test_the_sessions_own_end_is_checked_on_every_hit() -> None:
    store, clock = SlowStore(), FrozenClock()
    store.ends_at = clock.now() + timedelta(seconds=10)
    c = cache(store, clock)
    await c.live("s1", clock.now())
    clock.advance(seconds=11)
    await c.live("s1", clock.now())
    assert store.reads == 2


async def test_interval_zero_never_caches() -> None:
    store, clock = SlowStore(), FrozenClock()
    c = cache(store, clock, interval=0)
    for _ in range(3):
        await c.live("s1", clock.now())
    assert store.reads == 3




async def test_hits_in_one_loop_iteration_start_one_renewal() -> None:
    """Past half the interval a hit renews ahead; a thousand hits before the loop runs
    again (requests answered without suspending) must still start only one read, and
    no task per hit."""
    import time

    store, clock = SlowStore(), FrozenClock()
    c = cache(store, clock, interval=0.2)
    await c.live("s1", clock.now())
    assert store.reads == 1
    started = time.monotonic()
    while time.monotonic() - started < 0.12:  # past half the interval, before its end
        await asyncio.sleep(0.01)
    tasks_before = len(asyncio.all_tasks())
    for _ in range(1000):
        assert await c.live("s1", clock.now()) is not None  # a hit: never suspends
    assert len(asyncio.all_tasks()) - tasks_before == 1  # one read started, not one task per hit
    for _ in range(5):
        await asyncio.sleep(0)
    assert store.reads == 2
