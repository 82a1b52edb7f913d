"""When to purge: on demand (CLI) or every PURGE_INTERVAL_SECONDS inside the server."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

from app.clock import Clock
from app.store.purge import SqlPurger

log = logging.getLogger("app.housekeeping")


@dataclass(frozen=True)
class PurgeResult:
    sessions: int
    attempts: int


async def purge(purger: SqlPurger, clock: Clock, *, retention: timedelta, attempt_window: timedelta,
                batch_size: int = 1000, known_for: timedelta | None = None) -> PurgeResult:
    """Login counters go two windows after theirs began (the rate limiter still weighs the
    previous window); back-off rows once nothing has happened on them for `known_for`
    (a known client is forgotten, an account's back-off starts afresh)."""
    now = clock.now()
    attempts = await purger.purge_attempts(now - 2 * attempt_window)
    if known_for is not None:
        attempts += await purger.purge_backoff(now - known_for)
    return PurgeResult(sessions=await purger.purge_sessions(now - retention, batch_size), attempts=attempts)


async def purge_forever(purger: SqlPurger, clock: Clock, *, interval: float, retention: timedelta,
                        attempt_window: timedelta, known_for: timedelta | None = None) -> None:
    """Every replica may run this: the deletes are idempotent and batched, so overlapping
    runs only share the work. A failed run (database down) is logged and retried later."""
    while True:
        await asyncio.sleep(interval)
        try:
            result = await purge(purger, clock, retention=retention, attempt_window=attempt_window,
                                 known_for=known_for)
        except Exception:  # noqa: BLE001 - housekeeping must never take the server down
            log.warning("purge failed; will retry in %.0f s", interval, exc_info=True)
            continue
        if result.sessions or result.attempts:
            log.info("purged %d sessions and %d login-attempt counters", result.sessions, result.attempts)
