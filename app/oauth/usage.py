"""Session "last used" without a write per request: each process records a session's
last_used_at at most once per interval, in the background, so the protected-route hot
path stays a read. The map is bounded; forgetting an entry only costs an extra write.

The writes are coalesced: sessions that fall due are collected and written by one
statement per FLUSH_DELAY, not one transaction each. Otherwise many sessions falling due
together (they do: a process meets most of its users' sessions within seconds of each
other, and they fall due again together a minute later) start as many transactions at
once, take every pooled connection and open overflow ones, and the requests that need
a session read wait behind them.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import datetime, timedelta

from app.clock import Clock
from app.store.session_admin import SqlSessionAdmin

log = logging.getLogger("app.usage")
INTERVAL = timedelta(seconds=60)
_INTERVAL_SECONDS = INTERVAL.total_seconds()
MAX_TRACKED = 100_000
FLUSH_DELAY = 1.0  # seconds a due write waits to join others; last_used_at is that coarse


class UsageRecorder:
    def __init__(self, sessions: SqlSessionAdmin, clock: Clock, *, flush_delay: float = FLUSH_DELAY) -> None:
        self._sessions = sessions
        self._clock = clock
        self._delay = flush_delay
        self._last: OrderedDict[str, float] = OrderedDict()
        self._due: dict[str, datetime] = {}
        self._flushing: asyncio.Task[None] | None = None  # sleeping until its flush
        self._writing = asyncio.Lock()

    def used(self, session_id: str, now: datetime | None = None) -> None:
        """On every protected request: `now` is the caller's reading of the clock, when it has one."""
        if now is None:
            now = self._clock.now()
        stamp = now.timestamp()
        last = self._last.get(session_id)
        if last is not None and stamp - last < _INTERVAL_SECONDS:
            return
        self._last[session_id] = stamp
        self._last.move_to_end(session_id)
        while len(self._last) > MAX_TRACKED:
            self._last.popitem(last=False)
        self._due[session_id] = now
        if self._flushing is None:
            self._flushing = asyncio.create_task(self._flush_later())

    async def _flush_later(self) -> None:
        await asyncio.sleep(self._delay)  # drain() cancels it here, and only here
        self._flushing = None  # from now on drain() waits for this write instead
        async with self._writing:
            await self._write()

    async def _write(self) -> None:
        due, self._due = self._due, {}
        if not due:
            return
        try:  # one time for the batch: each was used within FLUSH_DELAY of the latest
            await self._sessions.touch_many(list(due), max(due.values()))
        except Exception:  # noqa: BLE001 - metadata only; never fail or log a request for it
            log.debug("could not record session use", exc_info=True)

    async def drain(self) -> None:
        """Tests and shutdown: write what is due now instead of after the delay, after a
        write under way (so the engine is never disposed under it)."""
        if self._flushing is not None:
            self._flushing.cancel()
            self._flushing = None
        async with self._writing:
            await self._write()
