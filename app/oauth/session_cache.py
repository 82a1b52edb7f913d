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

import time
from collections import OrderedDict
from datetime import datetime, timedelta

from app.clock import Clock
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

    async def live(self, session_id: str, now: datetime) -> LiveSession | None:
        if self._interval > 0:
            hit = self._entries.get(session_id)
            if hit is not None:
                cached, checked = hit
                if time.monotonic() - checked < self._interval and (cached.ends_at is None or now < cached.ends_at):
                    return cached
                self._entries.pop(session_id, None)
        session = await self._inner.live(session_id, now)
        if session is not None and self._interval > 0:
            self._entries[session_id] = (session, time.monotonic())
            if len(self._entries) > MAX_ENTRIES:
                self._entries.popitem(last=False)
        return session

    def evict(self, session_id: str) -> None:
        self._entries.pop(session_id, None)

    def evict_user(self, user_id: int) -> None:
        for sid in [sid for sid, (s, _) in self._entries.items() if s.user_id == user_id]:
            self._entries.pop(sid, None)

    async def revoke(self, session_id: str, now: datetime, reason: str) -> bool:
        self.evict(session_id)
        return await self._inner.revoke(session_id, now, reason)

    async def rotate(
        self, *, token_hash: str, successor_hash: str, now: datetime, refresh_lifetime: timedelta,
        narrow_to: list[str] | None = None, client_id: str | None = None,
        policy: ReusePolicy = STRICT, seal: Sealer | None = None,
    ) -> RotateOutcome:
        outcome = await self._inner.rotate(
            token_hash=token_hash, successor_hash=successor_hash, now=now, refresh_lifetime=refresh_lifetime,
            narrow_to=narrow_to, client_id=client_id, policy=policy, seal=seal,
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
