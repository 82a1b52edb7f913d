"""The session cache's rules, with a fake store whose reads the test controls. The
revocation feed sleeps between polls on the event loop's clock: its tests run on a
virtual one (tests/virtual_time.py) and give the cache that clock as its monotonic one."""

from __future__ import annotations

import asyncio

import pytest
from datetime import datetime, timedelta

from app.clock import FrozenClock
from app.oauth.session_cache import CachingSessionStore
from app.store.sessions import LiveSession
from tests.virtual_time import on_virtual_time


class SlowStore:
    def __init__(self) -> None:
        self.reads = 0
        self.gate = asyncio.Event()
        self.gate.set()
        self.ends_at: datetime | None = None
        self.revoked: list[str] = []
        self.feed_down = False
        self.batches: list[list[str]] = []
        self.failing: Exception | None = None

    async def live(self, session_id: str, now: datetime) -> LiveSession | None:
        return (await self.live_many([session_id], now)).get(session_id)

    async def live_many(self, session_ids: list[str], now: datetime) -> dict[str, LiveSession]:
        self.reads += 1  # queries
        self.batches.append(list(session_ids))
        revoked = set(self.revoked)  # what the rows said when they were read
        await self.gate.wait()
        if self.failing is not None:
            raise self.failing
        return {sid: LiveSession(sid, 7, "alice", "profile", self.ends_at) for sid in session_ids if sid not in revoked}

    async def revoked_since(self, since: datetime) -> list[str]:
        if self.feed_down:
            raise ConnectionError("database unreachable")
        return list(self.revoked)


class Monotonic:
    """The cache's own clock for the age of entries, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def cache(store: SlowStore, clock: FrozenClock, interval: float = 60, **kw: object) -> CachingSessionStore:
    return CachingSessionStore(store, clock, interval, **kw)  # type: ignore[arg-type]


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
    store, clock, ticks = SlowStore(), FrozenClock(), Monotonic()
    c = cache(store, clock, interval=0.2, monotonic=ticks)
    await c.live("s1", clock.now())
    assert store.reads == 1
    ticks.now += 0.12  # past half the interval, before its end
    tasks_before = len(asyncio.all_tasks())
    for _ in range(1000):
        assert await c.live("s1", clock.now()) is not None  # a hit: never suspends
    assert len(asyncio.all_tasks()) - tasks_before == 1  # one read started, not one task per hit
    for _ in range(5):
        await asyncio.sleep(0)
    assert store.reads == 2


async def test_with_a_current_feed_sessions_are_not_read_again() -> None:
    """The database work no longer grows with the active sessions: while the feed is
    current, a thousand sessions used again and again after the interval cost no read."""
    store, clock, ticks = SlowStore(), FrozenClock(), Monotonic()
    c = cache(store, clock, interval=0.5, trusted=30, monotonic=ticks)
    await c.poll_revocations()
    for i in range(1000):
        await c.live(f"s{i}", clock.now())
    assert store.reads == 1000
    for _ in range(20):  # 5 s: ten intervals, the feed polling every half interval
        ticks.now += 0.25
        await c.poll_revocations()
        for i in range(1000):
            assert await c.live(f"s{i}", clock.now()) is not None
    assert store.reads == 1000


async def test_the_feed_evicts_what_other_processes_revoked() -> None:
    store, clock, ticks = SlowStore(), FrozenClock(), Monotonic()
    c = cache(store, clock, interval=0.5, monotonic=ticks)
    await c.poll_revocations()
    assert await c.live("s1", clock.now()) is not None
    assert await c.live("s2", clock.now()) is not None
    store.revoked.append("s1")  # a logout handled by another replica
    ticks.now += 0.25
    assert await c.live("s1", clock.now()) is not None  # not polled yet: still trusted
    await c.poll_revocations()
    assert await c.live("s1", clock.now()) is None
    assert await c.live("s2", clock.now()) is not None
    assert store.reads == 3  # s1 read again (found revoked); s2 still cached


async def test_a_stale_feed_falls_back_to_the_interval() -> None:
    """Feed down (database unreachable): entries are trusted for the interval only,
    then read again, so a revocation the feed cannot see still lands in time."""
    store, clock, ticks = SlowStore(), FrozenClock(), Monotonic()
    c = cache(store, clock, interval=0.5, monotonic=ticks)
    await c.poll_revocations()
    await c.live("s1", clock.now())
    store.feed_down = True
    with pytest.raises(ConnectionError):
        await c.poll_revocations()
    store.revoked.append("s1")
    ticks.now += 0.4
    assert await c.live("s1", clock.now()) is not None  # the feed was current 0.4 s ago
    ticks.now += 0.2  # the last success is now older than the interval
    assert await c.live("s1", clock.now()) is None  # read again, found revoked


@on_virtual_time
async def test_the_feed_task_survives_a_failing_database(caplog: pytest.LogCaptureFixture) -> None:
    store, clock = SlowStore(), FrozenClock()
    loop = asyncio.get_running_loop()
    c = cache(store, clock, interval=0.02, monotonic=loop.time)
    assert await c.live("s8", clock.now()) is not None
    assert await c.live("s9", clock.now()) is not None
    store.feed_down = True
    task = asyncio.create_task(c.follow_revocations())
    await asyncio.sleep(0.06)  # six polls, every one failing
    assert not task.done()
    assert [r.getMessage()[:23] for r in caplog.records] == ["revocation feed stopped"]  # once, not per poll
    store.feed_down = False
    store.revoked.append("s9")  # revoked by another process meanwhile
    await asyncio.sleep(0.02)  # two more polls
    task.cancel()
    assert caplog.records[-1].getMessage() == "revocation feed resumed"
    # it kept polling and caught up: s9 evicted, s8 trusted again (a current feed)
    assert c.cached("s8", clock.now()) is not None
    assert await c.live("s9", clock.now()) is None
    assert store.reads == 3


async def test_a_read_under_way_when_the_feed_evicts_is_not_kept() -> None:
    store, clock, ticks = SlowStore(), FrozenClock(), Monotonic()
    c = cache(store, clock, interval=0.5, monotonic=ticks)
    await c.poll_revocations()
    store.gate.clear()
    in_flight = asyncio.create_task(c.live("s1", clock.now()))
    while store.reads == 0:
        await asyncio.sleep(0)
    store.revoked.append("s1")  # committed after the read saw the row live
    await c.poll_revocations()
    store.gate.set()
    assert await in_flight is not None  # that request was answered from the read it made
    store.revoked.remove("s1")  # (so the next read would say "live" if it happened)
    await c.live("s1", clock.now())
    assert store.reads == 2  # the pre-eviction result was not kept


async def test_renewals_of_many_sessions_falling_due_together_are_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    """Sessions cached together fall due together: their background re-reads run a
    bounded number at a time, never as a burst that takes every connection; entries
    stay valid meanwhile."""
    from app.oauth import session_cache

    monkeypatch.setattr(session_cache, "MAX_RENEWALS", 4)
    store, clock, ticks = SlowStore(), FrozenClock(), Monotonic()
    c = cache(store, clock, interval=0.2, monotonic=ticks)
    for i in range(100):
        await c.live(f"s{i}", clock.now())
    assert store.reads == 100
    store.gate.clear()  # reads now hang until the test lets them through
    ticks.now += 0.12  # past half the interval: every hit wants a renewal
    for i in range(100):
        assert await c.live(f"s{i}", clock.now()) is not None  # still served from the cache
    await asyncio.sleep(0)
    assert store.reads == 101 and len(store.batches[-1]) == 4
    store.gate.set()
    await c.drain()
    for i in range(100):  # the others renew on later hits, once slots are free
        await c.live(f"s{i}", clock.now())
    await asyncio.sleep(0)
    await c.drain()
    assert store.reads == 102 and len(store.batches[-1]) == 4


async def test_renewals_falling_due_together_are_one_query() -> None:
    store, clock, ticks = SlowStore(), FrozenClock(), Monotonic()
    c = cache(store, clock, interval=0.2, monotonic=ticks)
    for i in range(100):
        await c.live(f"s{i}", clock.now())
    ticks.now += 0.12
    for i in range(100):
        assert await c.live(f"s{i}", clock.now()) is not None
    await asyncio.sleep(0)
    await c.drain()
    assert store.reads == 101 and sorted(store.batches[-1]) == sorted(f"s{i}" for i in range(100))


async def test_misses_of_one_moment_are_read_in_one_query() -> None:
    """Many sessions seen at once (after a restart, or 500 clients' tokens in turn) are
    read together, not one query each queued behind the others; each caller gets its
    own session, and an ended one is refused."""
    from app.oauth.session_cache import MAX_BATCH_READ

    store, clock = SlowStore(), FrozenClock()
    store.revoked.append("s7")
    c = cache(store, clock)
    n = MAX_BATCH_READ + 20
    found = await asyncio.gather(*(c.live(f"s{i}", clock.now()) for i in range(n)))
    assert [s.id if s else None for s in found] == [None if i == 7 else f"s{i}" for i in range(n)]
    assert [len(b) for b in store.batches] == [MAX_BATCH_READ, 20]
    assert await c.live("s3", clock.now()) is not None and store.reads == 2  # cached
    assert await c.live("s7", clock.now()) is None and store.reads == 3  # an ended one is not


async def test_a_failed_batch_read_fails_each_caller_and_caches_nothing() -> None:
    store, clock = SlowStore(), FrozenClock()
    store.failing = ConnectionError("database unreachable")
    c = cache(store, clock)
    results = await asyncio.gather(*(c.live(f"s{i}", clock.now()) for i in range(10)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results) and store.reads == 1
    store.failing = None
    assert await c.live("s1", clock.now()) is not None and store.reads == 2  # read again, not cached
    async with asyncio.timeout(5):  # a caller left waiting on the failed read would hang here
        again = await asyncio.gather(*(c.live(f"s{i}", clock.now()) for i in range(10)))
    assert all(r is not None for r in again) and store.reads == 3  # read anew, together


async def test_a_cancelled_caller_does_not_cancel_the_others_read() -> None:
    store, clock = SlowStore(), FrozenClock()
    store.gate.clear()
    c = cache(store, clock)
    first = asyncio.create_task(c.live("s1", clock.now()))
    second = asyncio.create_task(c.live("s2", clock.now()))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    first.cancel()
    store.gate.set()
    assert (await second) is not None and store.reads == 1
    assert await c.live("s1", clock.now()) is not None and store.reads == 1  # its read still landed


@on_virtual_time
async def test_slow_polls_do_not_let_the_feed_lapse() -> None:
    """Under load a poll can take a good part of the interval. Polls start every half
    interval however long the last one took, so the feed stays current and a session
    cached longer ago than the interval is still trusted; before, each poll's duration
    pushed the next one back, the feed lapsed every cycle and every cached session was
    read again at once (the 500-session bench rows' p99)."""

    class SlowFeed(SlowStore):
        async def revoked_since(self, since: datetime) -> list[str]:
            await asyncio.sleep(0.35)  # a poll waiting on a busy loop and pool
            return []

    store, clock = SlowFeed(), FrozenClock()
    loop = asyncio.get_running_loop()
    c = cache(store, clock, interval=1.0, trusted=30, monotonic=loop.time)
    feed = asyncio.create_task(c.follow_revocations())
    try:
        await asyncio.sleep(0.4)  # the first poll is done
        assert await c.live("s1", clock.now()) is not None and store.reads == 1
        missed = []
        while loop.time() < 3.4:  # five intervals, checked every 10 ms
            if c.cached("s1", clock.now()) is None:  # the feed lapsed: trusted for the interval only
                missed.append(round(loop.time(), 2))
            await asyncio.sleep(0.01)
        assert missed == []
        assert store.reads == 1
    finally:
        feed.cancel()


async def test_at_most_max_reads_queries_at_once_and_the_rest_wait_together() -> None:
    """Misses of different moments (one per request under load) do not become a query
    each: past MAX_READS under way, they queue and are read together when one ends."""
    from app.oauth.session_cache import MAX_READS

    store, clock = SlowStore(), FrozenClock()
    store.gate.clear()
    c = cache(store, clock)
    waiting = []
    for i in range(20):  # one miss per loop iteration
        waiting.append(asyncio.create_task(c.live(f"s{i}", clock.now())))
        await asyncio.sleep(0)
        await asyncio.sleep(0)
    assert store.reads == MAX_READS
    store.gate.set()
    assert all(r is not None for r in await asyncio.gather(*waiting))
    assert store.reads <= 2 * MAX_READS and sum(len(b) for b in store.batches) == 20


class StampedStore(SlowStore):
    """Revocations with the `revoked_at` their writers stamped, visible once committed."""

    def __init__(self) -> None:
        super().__init__()
        self.stamps: dict[str, datetime] = {}
        self.asked: list[datetime] = []

    def commit(self, session_id: str, stamped: datetime) -> None:
        self.stamps[session_id] = stamped
        self.revoked.append(session_id)

    async def revoked_since(self, since: datetime) -> list[str]:
        self.asked.append(since)
        return [sid for sid, at in self.stamps.items() if at >= since]


async def test_a_revocation_that_commits_after_a_later_stamped_one_is_still_fed() -> None:
    """Commit order is not stamp order: writer A stamps, B stamps later and commits
    first, the feed sees B, then A commits. The next poll still reaches A's stamp."""
    store, clock, ticks = StampedStore(), FrozenClock(), Monotonic()
    c = cache(store, clock, interval=0.5, overlap=timedelta(seconds=2), monotonic=ticks)
    await c.poll_revocations()
    for sid in ("a", "b"):
        assert await c.live(sid, clock.now()) is not None
    a_stamped = clock.now()
    clock.advance(seconds=0.25)
    store.commit("b", clock.now())
    ticks.now += 0.25
    await c.poll_revocations()
    assert await c.live("b", clock.now()) is None
    assert await c.live("a", clock.now()) is not None
    clock.advance(seconds=1)
    store.commit("a", a_stamped)  # 1.25 s after its stamp, earlier than the newest seen
    ticks.now += 0.25
    await c.poll_revocations()
    assert await c.live("a", clock.now()) is None
    # each poll reaches back to the previous poll's time less the overlap, no further
    assert store.asked[-1] == clock.now() - timedelta(seconds=1) - timedelta(seconds=2)
