"""The session store's statements on the real database (SQLite or PostgreSQL), through
the runner the server uses: a token's state as the refresh rule reads it, the
compare-and-set, batched liveness reads and the revocation feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta

import pytest
from sqlalchemy import insert

from app.clock import FrozenClock
from app.db.engine import make_engine
from app.db.runner import make_runner
from app.settings import Settings
from app.store.attempts import Backoff, Buckets, Claim, SqlAttemptStore
from app.oauth.session_cache import CachingSessionStore
from app.store import tables
from app.store.session_admin import SqlSessionAdmin
from app.store.sessions import LiveSession, NewSession, Rotation, SqlSessionStore
from app.store.users import UserRecord


@pytest.fixture
async def store(settings: Settings) -> AsyncIterator[SqlSessionStore]:
    engine = make_engine(settings)
    runner = make_runner(settings, engine)
    try:
        yield SqlSessionStore(runner)
    finally:
        await runner.close()
        await engine.dispose()


def new_session(user: UserRecord, clock: FrozenClock, n: int = 0) -> NewSession:
    now = clock.now()
    return NewSession(
        session_id=f"s{n:031d}", user_id=user.id, scope="read write", client_id=None, now=now,
        expires_at=now + timedelta(days=1), refresh_hash=f"h{n:063d}", refresh_expires_at=now + timedelta(hours=1),
        user_agent="ua", ip="203.0.113.7", audit=None,
    )


def rotation(session: NewSession, clock: FrozenClock, successor: str) -> Rotation:
    return Rotation(
        token_hash=session.refresh_hash, successor_hash=successor, session_id=session.session_id,
        now=clock.now(), refresh_expires_at=clock.now() + timedelta(hours=1), sealed_pair="sealed", audit=None,
    )


async def test_a_tokens_state_is_read_whole(store: SqlSessionStore, user: UserRecord, clock: FrozenClock) -> None:
    session = new_session(user, clock)
    await store.create(session)
    state = await store.state(session.refresh_hash)
    assert state is not None
    assert (state.session_id, state.user_id, state.username, state.user_active) == (session.session_id, user.id, "alice", True)
    assert state.scope == "read write" and state.bound_to is None and state.used_at is None
    assert state.expires_at == session.refresh_expires_at and state.session_expires_at == session.expires_at
    assert await store.state("unknown") is None

    clock.advance(seconds=5)
    assert await store.rotate(rotation(session, clock, "n" * 64))
    spent, successor = await store.state(session.refresh_hash), await store.state("n" * 64)
    assert spent is not None and successor is not None
    assert spent.used_at == clock.now() and spent.successor_pair == "sealed"
    assert spent.successor_used_at is None and spent.successor_expires_at == successor.expires_at
    assert successor.used_at is None and successor.issued_at == clock.now()


async def test_concurrent_claims_rotate_once(store: SqlSessionStore, user: UserRecord, clock: FrozenClock) -> None:
    session = new_session(user, clock)
    await store.create(session)
    claims = await asyncio.gather(*(store.rotate(rotation(session, clock, f"{i:064d}")) for i in range(8)))
    assert sorted(claims) == [False] * 7 + [True]
    winner = next(i for i, won in enumerate(claims) if won)
    for i in range(8):  # the losers' successors were rolled back with their claims
        assert (await store.state(f"{i:064d}") is not None) == (i == winner)


async def test_revoke_is_idempotent_and_fed(store: SqlSessionStore, user: UserRecord, clock: FrozenClock) -> None:
    session = new_session(user, clock)
    await store.create(session)
    assert await store.owner(session.session_id) == (True, None)
    assert await store.owner("nope") == (False, None)
    assert await store.revoke(session.session_id, clock.now(), "logout")
    assert not await store.revoke(session.session_id, clock.now(), "logout")
    assert await store.revoked_since(clock.now() - timedelta(minutes=1)) == [session.session_id]
    assert await store.revoked_since(clock.now() + timedelta(seconds=1)) == []


class CountingFeed:
    """The store as the session cache sees it, counting the rows each poll reads."""

    def __init__(self, inner: SqlSessionStore) -> None:
        self.inner = inner
        self.rows: list[int] = []

    async def live_many(self, session_ids: Sequence[str], now: datetime) -> dict[str, LiveSession]:
        return await self.inner.live_many(session_ids, now)

    async def revoked_since(self, since: datetime) -> list[str]:
        revoked = await self.inner.revoked_since(since)
        self.rows.append(len(revoked))
        return revoked


async def test_a_poll_after_a_mass_revocation_reads_what_changed(
    settings: Settings, store: SqlSessionStore, user: UserRecord, clock: FrozenClock
) -> None:
    """10,000 sessions revoked at once are read by the polls within the overlap, then by
    none; the next revocation is one row. (A fixed window of a minute read all 10,000 on
    every poll for that minute, in every process.)"""
    now = clock.now()
    engine = make_engine(settings)
    try:
        async with engine.begin() as conn:
            await conn.execute(insert(tables.sessions), [
                {"id": f"m{n:031d}", "user_id": user.id, "scope": "read", "created_at": now,
                 "expires_at": now + timedelta(days=1), "idle_expires_at": now + timedelta(hours=1)}
                for n in range(10_001)
            ])
        feed = CountingFeed(store)
        overlap = timedelta(seconds=10)
        cache = CachingSessionStore(feed, clock, 0.5, overlap=overlap)
        await cache.poll_revocations()
        last = f"m{10_000:031d}"
        clock.advance(seconds=0.25)
        assert await SqlSessionAdmin(engine).end_all(user.id, clock.now(), "admin", keep=last) == 10_000
        await cache.poll_revocations()
        assert feed.rows == [0, 10_000]
        for _ in range(80):  # 20 s of polls every half interval, nothing new
            clock.advance(seconds=0.25)
            await cache.poll_revocations()
        within = overlap // timedelta(seconds=0.25) + 1  # the polls that still reach back to it
        assert feed.rows[2:] == [10_000] * within + [0] * (80 - within)
        assert await store.revoke(last, clock.now(), "logout")
        clock.advance(seconds=0.25)
        await cache.poll_revocations()
        assert feed.rows[-1] == 1
    finally:
        await engine.dispose()


async def test_live_many_reads_any_number_of_sessions(store: SqlSessionStore, user: UserRecord, clock: FrozenClock) -> None:
    """Lists of every length are padded to a few statement sizes; 300 ids need two."""
    sessions = [new_session(user, clock, n) for n in range(300)]
    for session in sessions:
        await store.create(session)
    await store.revoke(sessions[7].session_id, clock.now(), "logout")
    asked = [s.session_id for s in sessions] + ["unknown"]
    for count in (1, 3, 17, 301):
        found = await store.live_many(asked[:count], clock.now())
        assert set(found) == {s.session_id for s in sessions[:count] if s is not sessions[7]}
    one = (await store.live_many([sessions[0].session_id], clock.now()))[sessions[0].session_id]
    assert one.username == "alice" and one.ends_at == sessions[0].refresh_expires_at
    clock.advance(hours=2)  # past the idle end
    assert await store.live_many(asked[:5], clock.now()) == {}


async def test_concurrent_login_failures_are_counted_one_by_one(settings: Settings, clock: FrozenClock) -> None:
    """One IP failing at twenty accounts at once: no failure lost. Twenty attempts at one
    account that all read the same count: exactly one is counted, the others must look
    again (the limiter's compare-and-set)."""
    engine = make_engine(settings)
    runner = make_runner(settings, engine)
    now = clock.now()
    try:
        attempts = SqlAttemptStore(runner)
        spread = [Buckets(account=f"user:{i}", client=None, ip="ip:b") for i in range(20)]
        counts = await asyncio.gather(*(
            attempts.claim(b, Claim(b.account, True, Backoff(), 1, now), now) for b in spread
        ))
        one = Buckets(account="user:a", client=None, ip=None)
        claims = await asyncio.gather(*(
            attempts.claim(one, Claim(one.account, True, Backoff(), 1, now), now) for _ in range(20)
        ))
        seen = await attempts.look(one, now, now - timedelta(minutes=5))
    finally:
        await runner.close()
        await engine.dispose()
    assert sorted(counts) == list(range(1, 21))  # type: ignore[type-var]
    assert claims.count(0) == 1 and claims.count(None) == 19
    assert seen.account == Backoff(failures=1, failed_at=now)
