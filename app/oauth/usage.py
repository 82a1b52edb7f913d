"""Session "last used" without a write per request: each process writes a session's
last_used_at at most once per interval, in the background, so the protected-route hot
path stays a read. The map is bounded; forgetting an entry only costs an extra write."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from datetime import timedelta

from app.clock import Clock
from app.store.session_admin import SqlSessionAdmin

log = logging.getLogger("app.usage")
INTERVAL = timedelta(seconds=60)
MAX_TRACKED = 100_000


class UsageRecorder:
    def __init__(self, sessions: SqlSessionAdmin, clock: Clock) -> None:
        self._sessions = sessions
        self._clock = clock
        self._last: OrderedDict[str, float] = OrderedDict()
        self._pending: set[asyncio.Task[None]] = set()

    def used(self, session_id: str) -> None:
        now = self._clock.now()
        stamp = now.timestamp()
        last = self._last.get(session_id)
        if last is not None and stamp - last < INTERVAL.total_seconds():
            return
        self._last[session_id] = stamp
        self._last.move_to_end(session_id)
        while len(self._last) > MAX_TRACKED:
            self._last.popitem(last=False)
        task = asyncio.create_task(self._write(session_id, now))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _write(self, session_id: str, now: object) -> None:
        try:
            await self._sessions.touch(session_id, now)  # type: ignore[arg-type]
        except Exception:  # noqa: BLE001 - metadata only; never fail or log a request for it
            log.debug("could not record session use", exc_info=True)

    async def drain(self) -> None:
        """Tests and shutdown: wait for the writes in flight."""
        if self._pending:
            await asyncio.gather(*self._pending, return_exceptions=True)
