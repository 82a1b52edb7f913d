"""Protected routes without a database round trip per request.

A session found live is trusted for at most SESSION_CHECK_INTERVAL_SECONDS (default
0.5 s, never more than the contract's 1 s bound), then read again. Everything this
process revokes (logout, reuse, revocation, an admin or password change ending
sessions) is evicted at once, so here revocation is immediate; another worker or
replica sees it at its next check, within the interval. The session's own end is
re-checked against the clock on every hit, and when the database cannot be read the
entry is not renewed: after the interval, requests fail closed with 503.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from datetime import datetime, timedelta

from app.clock import Clock
from app.store.audit import AuditRecord
from app.store.reuse import STRICT, ReusePolicy
from app.store.sessions import (
    LiveSession, RotateFailure, RotateOutcome, Sealer, SessionInfo, SqlSessionStore,
)

MAX_ENTRIES = 100_000


class CachingSessionStore:
    """SqlSessionStore with a bounded, short-lived cache in front of `live()`."""

    def __init__(self, inner: SqlSessionStore, clock: Clock, interval: float) -> None:
        self._inner = inner
        self._clock = clock
        self._interval = interval
        self._entries: OrderedDict[str, tuple[LiveSession, float]] = OrderedDict()
        self._reading: dict[str, asyncio.Future[LiveSession | None]] = {}
        self._epoch = 0  # bumped by every eviction: a read that started before one is not kept

    async def live(self, session_id: str, now: datetime) -> LiveSession | None:
        if self._interval <= 0:
            return await self._inner.live(session_id, now)
        hit = self._entries.get(session_id)
        if hit is not None:
            cached, checked = hit
            age = time.monotonic() - checked
            if age < self._interval and (cached.ends_at is None or now < cached.ends_at):
                if age >= self._interval / 2:
                    self._renew_soon(session_id, now)  # ahead of expiry: no herd of misses
                return cached
            self._entries.pop(session_id, None)
        return await self._read(session_id, now)

    async def _read(self, session_id: str, now: datetime) -> LiveSession | None:
        """Single flight: concurrent misses for one session share one query."""
        return await asyncio.shield(self._start_read(session_id, now))

    def _start_read(self, session_id: str, now: datetime) -> asyncio.Future[LiveSession | None]:
        """Registered before this returns, so every caller until the read ends finds it
        (a task only starts at the loop's next iteration)."""
        pending = self._reading.get(session_id)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(session_id, now))
            self._reading[session_id] = pending
            pending.add_done_callback(lambda _: self._reading.pop(session_id, None))
        return pending

    async def _fetch(self, session_id: str, now: datetime) -> LiveSession | None:
        started = time.monotonic()  # the entry is as old as the read's start, not its end
        epoch = self._epoch
        session = await self._inner.live(session_id, now)
        if session is None:
            self._entries.pop(session_id, None)
        elif epoch == self._epoch:
            self._entries[session_id] = (session, started)
            self._entries.move_to_end(session_id)
            if len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return session

    def _renew_soon(self, session_id: str, now: datetime) -> None:
        if session_id not in self._reading:
            task = self._start_read(session_id, now)
            task.add_done_callback(lambda t: t.exception() if not t.cancelled() else None)

    def evict(self, session_id: str) -> None:
        self._epoch += 1
        self._entries.pop(session_id, None)

    def evict_user(self, user_id: int) -> None:
        self._epoch += 1
        for sid in [sid for sid, (s, _) in self._entries.items() if s.user_id == user_id]:
            self._entries.pop(sid, None)

    async def revoke(self, session_id: str, now: datetime, reason: str) -> bool:
        self.evict(session_id)
        return await self._inner.revoke(session_id, now, reason)

    async def rotate(
        self, *, token_hash: str, successor_hash: str, now: datetime, refresh_lifetime: timedelta,
        narrow_to: list[str] | None = None, client_id: str | None = None,
        policy: ReusePolicy = STRICT, seal: Sealer | None = None, audit: AuditRecord | None = None,
    ) -> RotateOutcome:
        outcome = await self._inner.rotate(
            token_hash=token_hash, successor_hash=successor_hash, now=now, refresh_lifetime=refresh_lifetime,
            narrow_to=narrow_to, client_id=client_id, policy=policy, seal=seal, audit=audit,
        )
        if outcome.failure is RotateFailure.REUSED and not outcome.reported and outcome.session_id:
            self.evict(outcome.session_id)
        return outcome

    async def create(
        self, *, session_id: str, user_id: int, username: str, scope: str, client_id: str | None,
        now: datetime, expires_at: datetime, refresh_hash: str, refresh_expires_at: datetime,
        user_agent: str | None = None, ip: str | None = None,
    ) -> SessionInfo:
        return await self._inner.create(
            session_id=session_id, user_id=user_id, username=username, scope=scope, client_id=client_id,
            now=now, expires_at=expires_at, refresh_hash=refresh_hash, refresh_expires_at=refresh_expires_at,
            user_agent=user_agent, ip=ip,
        )

    async def session_of_refresh(self, token_hash: str) -> str | None:
        return await self._inner.session_of_refresh(token_hash)

    async def exists(self, session_id: str) -> bool:
        return await self._inner.exists(session_id)
