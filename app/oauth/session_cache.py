"""Protected routes without a database round trip per request.

Everything this process revokes (logout, reuse, revocation, an admin or a password
change ending sessions) is evicted at once, so here revocation is immediate. Other
workers and replicas learn of it in one of two ways:

- The revocation feed (`follow_revocations`, run by the app): every half
  SESSION_CHECK_INTERVAL_SECONDS one indexed query asks for the sessions revoked since
  the previous poll (less an overlap, below), and evicts those it has not seen yet.
  While the feed is current, a
  session found live is trusted for up to TRUSTED_SECONDS (re-read ahead of that, as
  a safety net), so the database work per process no longer grows with the number of
  active sessions: one query per interval, whatever the traffic.
- When the feed is not current — its last success is older than the interval (the
  database cannot be read, or no feed runs, as in tests without the app's lifespan) —
  an entry is trusted only for SESSION_CHECK_INTERVAL_SECONDS (default 0.5 s, never
  more than the contract's 1 s bound) and then read again; a read that fails is not
  cached, so requests fail closed with 503.

Either way another process sees a revocation within the interval. The session's own
end is re-checked against the clock on every hit.

What a poll reads, and why nothing is missed. A poll asks for `revoked_at >= since`,
where `since` is the `now` of the previous successful poll less the overlap (the
database command timeout, DB_COMMAND_TIMEOUT_SECONDS). A revocation that poll did not
return had not committed when it read, so it committed after that poll's `now`. Its
writer stamped `revoked_at` with its own clock just before its statement ran, and the
statement committed within about the command timeout or failed (the runner bounds each
operation by it, connecting included, and on PostgreSQL ends one that overruns it, so
the server rolls its transaction back; the engine bounds each statement by it). So
`revoked_at` > that `now` − (stamp-to-commit lag + clocks' disagreement) >= `since`
while the two stay under the overlap. The order in which writers commit does not
matter: each row's own lag is bounded, however many rows with later stamps committed
first; this is why the bound is the previous poll's time less the overlap and not the
newest `revoked_at` seen (a row committed after it with an earlier stamp would be
missed). A writer stalled beyond the overlap (a SQLite writer queue longer than the
timeout: a server far past its capacity) is not fed; its session still ends here
within TRUSTED_SECONDS, when the entry is read again.

So a poll reads what was revoked in the last half interval plus the overlap, whatever
happened before: after a mass revocation each process reads those rows for the overlap's
few seconds, then not at all, instead of on every poll for as long as a fixed window
would hold them. After the feed could not poll, the first poll reaches back to the last
success or to TRUSTED_SECONDS ago, whichever is later (no older entry is ever trusted).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta

from app.clock import Clock
from app.store.sessions import LiveSession, LiveSessions

MAX_ENTRIES = 100_000
MAX_BATCH_READ = 500  # sessions read in one query (_read_batch)
MAX_READS = 4  # session queries under way at once: misses wait for the next batch, not a connection each
MAX_RENEWALS = MAX_BATCH_READ  # background re-reads under way at once (_renew_soon): one query's worth
TRUSTED_SECONDS = 30.0  # how long a live session is trusted while the feed is current
FEED_OVERLAP = timedelta(seconds=10)  # a poll's reach before the previous one (the app passes its command timeout)

log = logging.getLogger("app.sessions")


class CachingSessionStore:
    """A bounded cache in front of the store's `live_many`."""

    def __init__(
        self, inner: LiveSessions, clock: Clock, interval: float, *, trusted: float = TRUSTED_SECONDS,
        overlap: timedelta = FEED_OVERLAP, monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`overlap`: the longest a revocation may take from its `revoked_at` to its
        commit, plus the clocks' disagreement (the module's docstring)."""
        self._monotonic = monotonic  # ages of entries (tests pass their own)
        self._inner = inner
        self._clock = clock
        self._interval = interval
        self._trusted = max(trusted, interval)
        self._entries: OrderedDict[str, tuple[LiveSession, float]] = OrderedDict()
        self._reading: dict[str, asyncio.Future[LiveSession | None]] = {}
        self._epoch = 0  # bumped by every eviction: a read that started before one is not kept
        self._feed_current_until = 0.0  # monotonic; the last feed success + the interval
        self._revoked: dict[str, datetime] = {}  # what the feed has already evicted
        self._overlap = overlap
        self._polled_at = clock.now()  # the last successful poll's `now`; no entry is older
        self._renewing = 0
        self._queued: dict[str, asyncio.Future[LiveSession | None]] = {}  # misses for the next batch
        self._queued_now: datetime | None = None  # the latest `now` among them
        self._batch: asyncio.Future[None] | None = None
        self._reads = 0  # session queries under way

    async def live(self, session_id: str, now: datetime) -> LiveSession | None:
        if self._interval <= 0:
            return (await self._inner.live_many([session_id], now)).get(session_id)
        return self.cached(session_id, now) or await self._read(session_id, now)

    def cached(self, session_id: str, now: datetime) -> LiveSession | None:
        """A hit, without awaiting (the protected-route hot path asks this first). An
        entry past its trust or its session's end is dropped: None, and `live` reads."""
        hit = self._entries.get(session_id)
        if hit is None:
            return None
        cached, checked = hit
        clock = self._monotonic()
        ttl = self._trusted if clock < self._feed_current_until else self._interval
        age = clock - checked
        if age < ttl and (cached.ends_at is None or now < cached.ends_at):
            if age >= ttl / 2:
                self._renew_soon(session_id, now)  # ahead of expiry: no herd of misses
            return cached
        self._entries.pop(session_id, None)
        return None

    async def follow_revocations(self) -> None:
        """The revocation feed; runs until cancelled. A failed query is logged and
        retried; meanwhile entries fall back to the short interval (fail closed)."""
        if self._interval <= 0:
            return
        failing = False
        while True:
            # Polls start every half interval, however long the last one took: a poll
            # delayed by a busy loop must not push the next one past the interval, or
            # the feed lapses and every cached session is read again at once.
            started = self._monotonic()
            try:
                await self.poll_revocations()
            except Exception as exc:  # noqa: BLE001 - the feed must outlive a database outage
                if not failing:  # once per outage, not four times a second
                    log.warning("revocation feed stopped (%s): sessions are read again every %.2f s",
                                type(exc).__name__, self._interval)
                failing = True
            else:
                if failing:
                    log.warning("revocation feed resumed")
                failing = False
            await asyncio.sleep(max(0.0, started + self._interval / 2 - self._monotonic()))

    async def poll_revocations(self) -> None:
        started = self._monotonic()
        now = self._clock.now()
        since = max(self._polled_at, now - timedelta(seconds=self._trusted)) - self._overlap
        revoked = await self._inner.revoked_since(since)
        fresh = [sid for sid in revoked if sid not in self._revoked]
        if fresh:
            self._epoch += 1  # a read under way may predate one of these revocations
            for sid in fresh:
                self._revoked[sid] = now
                self._entries.pop(sid, None)
        if len(self._revoked) > len(revoked):  # forget what left the window
            keep = set(revoked)
            self._revoked = {sid: at for sid, at in self._revoked.items() if sid in keep}
        self._polled_at = max(self._polled_at, now)
        self._feed_current_until = started + self._interval

    async def drain(self) -> None:
        """Shutdown and tests: wait for the reads under way (renewals run in the background)."""
        if self._reading:
            await asyncio.gather(*self._reading.values(), return_exceptions=True)

    async def _read(self, session_id: str, now: datetime) -> LiveSession | None:
        """Single flight: concurrent misses for one session share one query."""
        return await asyncio.shield(self._start_read(session_id, now))

    def _start_read(self, session_id: str, now: datetime) -> asyncio.Future[LiveSession | None]:
        """Registered before this returns, so every caller until the read ends finds it.
        The misses of one moment are read together, in one query (`_read_batch`, which
        starts at the loop's next iteration): many sessions seen at once — after a
        restart, or when their entries age out together — are a few queries, not one
        each queued behind the others."""
        pending = self._reading.get(session_id)
        if pending is None:
            pending = asyncio.get_running_loop().create_future()
            self._reading[session_id] = pending
            pending.add_done_callback(lambda _: self._reading.pop(session_id, None))
            self._queued[session_id] = pending
            self._queued_now = now if self._queued_now is None else max(self._queued_now, now)
            self._schedule_batch()
        return pending

    def _schedule_batch(self) -> None:
        """Hits of different moments would otherwise be a query each (renewals are one
        per hit): at most MAX_READS queries at once, and what queues meanwhile is read
        together when one ends."""
        if self._queued and self._batch is None and self._reads < MAX_READS:
            self._batch = asyncio.ensure_future(self._read_batch())

    async def _read_batch(self) -> None:
        self._batch = None
        batch = dict(itertools.islice(self._queued.items(), MAX_BATCH_READ))
        for sid in batch:
            del self._queued[sid]
        now = self._queued_now or self._clock.now()
        if not self._queued:
            self._queued_now = None
        self._reads += 1
        self._schedule_batch()  # more than one query's worth: the rest in the next
        started = self._monotonic()  # an entry is as old as the read's start, not its end
        epoch = self._epoch
        try:
            found = await self._inner.live_many(list(batch), now)
        except BaseException as exc:  # each caller gets the failure; none is left waiting
            for future in batch.values():
                if future.done():
                    continue
                if isinstance(exc, asyncio.CancelledError):
                    future.cancel()
                else:
                    future.set_exception(exc)
            if not isinstance(exc, Exception):
                raise
            return
        finally:
            self._reads -= 1
            self._schedule_batch()
        for sid, future in batch.items():
            session = found.get(sid)
            if session is None:
                self._entries.pop(sid, None)
            elif epoch == self._epoch:
                self._entries[sid] = (session, started)
                self._entries.move_to_end(sid)
                if len(self._entries) > MAX_ENTRIES:
                    self._entries.popitem(last=False)
            if not future.done():
                future.set_result(session)

    def _renew_soon(self, session_id: str, now: datetime) -> None:
        """At most MAX_RENEWALS under way: many sessions cached together fall due together.
        Those of one moment share a query (`_start_read`), and the cap keeps a burst to
        about one query's worth. One skipped now is tried again on a later hit; the entry
        stays valid meanwhile."""
        if session_id in self._reading or self._renewing >= MAX_RENEWALS:
            return
        self._renewing += 1
        task = self._start_read(session_id, now)
        task.add_done_callback(self._renewed)

    def _renewed(self, task: asyncio.Future[LiveSession | None]) -> None:
        self._renewing -= 1
        if not task.cancelled():
            task.exception()  # retrieved: a failed renewal is a later miss, not an error log

    def evict(self, session_id: str) -> None:
        self._epoch += 1
        self._entries.pop(session_id, None)

    def evict_user(self, user_id: int) -> None:
        self._epoch += 1
        for sid in [sid for sid, (s, _) in self._entries.items() if s.user_id == user_id]:
            self._entries.pop(sid, None)
