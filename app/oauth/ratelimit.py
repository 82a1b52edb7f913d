"""Login rate limits on password guesses: the password grant, /login and the current
password of /user/password all pass here before their hash.

Only failures count. An attempt is counted as a failure *before* its hash runs, so a
burst of concurrent guesses cannot all pass one check, and handed back when the
password turns out right (`Attempt.succeeded`), or when the hash never ran
(`Attempt.hashing`: the hashing queue was full).

- **Per client IP**: failures in a sliding window, LOGIN_ATTEMPTS_PER_IP per
  LOGIN_ATTEMPTS_WINDOW_SECONDS. The count is the current fixed window's plus the
  previous one's weighted by how much of it the sliding window still covers, so no
  window boundary lets twice the limit through.
- **Per account**: progressive back-off on consecutive failures. The first
  LOGIN_FAILURES_BEFORE_BACKOFF are free; then the next attempt waits 1 s after the
  last failure, then 2 s, 4 s … up to LOGIN_BACKOFF_MAX_SECONDS (429 with Retry-After).
  A success resets it. `daily_budget` computes the guesses this leaves an attacker in
  any 24 hours: 91 with the defaults (10 free, 20 minutes at most), 72 a day after
  the first. NIST SP 800-63B §5.2.2 asks for at most 100 consecutive failures; a hard
  lock at 100 would hand attackers a way to lock anyone out, the back-off does not.
- **Known clients**: the account's back-off is what an attacker could aim at a victim,
  so it binds only clients it does not know. An IP that logged in to the account
  within LOGIN_KNOWN_CLIENT_DAYS has its own back-off for that account (same schedule,
  keyed by account and IP) and is never slowed by failures from elsewhere; the per-IP
  limit still applies to it.

Accounts are keyed by the NFC-normalised username, case-sensitive, exactly as users are
looked up (app.store.users): 'Alice' and 'alice' are two accounts with two buckets, and
guesses at one never slow the other. Unknown usernames get buckets like any other, so
the limits do not reveal which names exist.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol, TypeVar

from app.clock import Clock
from app.errors import RateLimited, ServiceUnavailable
from app.security.passwords import HashingBusy
from app.store.attempts import Backoff, Buckets, Claim, Snapshot
from app.store.users import normalise_username

T = TypeVar("T")
log = logging.getLogger("app.ratelimit")

FIRST_DELAY_SECONDS = 1.0
DAY = 86400.0
RACES = 32  # compare-and-set rounds lost to concurrent attempts before answering 429


@dataclass(frozen=True)
class LoginLimits:
    enabled: bool
    failures_before_backoff: int
    backoff_max: timedelta
    per_ip: int
    window: timedelta
    known_for: timedelta


def backoff_delay(failures: int, limits: LoginLimits) -> float:
    """Seconds the next attempt waits after the `failures`-th consecutive failure."""
    beyond = failures - limits.failures_before_backoff
    if beyond < 0:
        return 0.0
    return min(FIRST_DELAY_SECONDS * 2.0 ** min(beyond, 64), limits.backoff_max.total_seconds())


def daily_budget(limits: LoginLimits) -> int:
    """Guesses at one account in the first 24 hours of an attack that tries again the
    moment it may (the most any 24 hours allow while nobody logs in to it)."""
    at, guesses = 0.0, 0
    while at < DAY:
        guesses += 1
        at += backoff_delay(guesses, limits)
    return guesses


class AttemptStore(Protocol):
    """SQL (app.store.attempts) or Redis (app.store.attempts_redis)."""

    async def look(self, buckets: Buckets, window: datetime, previous: datetime) -> Snapshot: ...

    async def claim(self, buckets: Buckets, claim: Claim, now: datetime) -> int | None: ...

    async def succeeded(self, buckets: Buckets, claim: Claim, now: datetime) -> None: ...

    async def withdraw(self, buckets: Buckets, claim: Claim) -> None: ...


class Attempt:
    """One guess, counted as a failure until it is known to be something else."""

    def __init__(self, store: AttemptStore | None, buckets: Buckets, claim: Claim | None, clock: Clock) -> None:
        self._store = store
        self._counted = buckets  # the counters this attempt is counted in
        self._claim = claim
        self._clock = clock

    async def hashing(self, work: Awaitable[T]) -> T:
        """Awaits the attempt's hash. One the server refused to queue was no guess."""
        try:
            return await work
        except HashingBusy:
            if self._store is not None and self._claim is not None:
                await self._store.withdraw(self._counted, self._claim)
            raise

    async def succeeded(self) -> None:
        if self._store is None or self._claim is None:
            return
        try:
            await self._store.succeeded(self._counted, self._claim, self._clock.now())
        except ServiceUnavailable:
            # The login stands; its failure stays counted until the next success.
            log.warning("could not record a successful login with the rate limiter")


class LoginRateLimiter:
    def __init__(self, limits: LoginLimits, store: AttemptStore, clock: Clock) -> None:
        self._limits = limits
        self._store = store
        self._clock = clock

    async def check(self, username: str, ip: str | None) -> Attempt:
        """Counts the attempt as a failure, or raises RateLimited (counting nothing)."""
        account = normalise_username(username)
        buckets = Buckets(
            account=_bucket("user", account),
            client=_bucket("client", account, ip) if ip else None,
            ip=_bucket("ip", ip) if ip else None,
        )
        if not self._limits.enabled:
            return Attempt(None, buckets, None, self._clock)
        for _ in range(RACES):
            now = self._clock.now()
            window, elapsed = self._window(now)
            seen = await self._store.look(buckets, window, window - self._limits.window)
            known = _known(seen.client, now, self._limits.known_for)
            state = seen.client if known else seen.account
            wait = max(self._backoff_wait(state, now), self._ip_wait(seen.ip_previous, seen.ip_current, elapsed))
            if wait > 0:
                raise RateLimited(math.ceil(wait))
            claim = Claim(
                subject=buckets.client if known and buckets.client else buckets.account,
                subject_is_account=not known, seen=state, failures=state.failures + 1, window=window,
            )
            count = await self._store.claim(buckets, claim, now)
            if count is None:
                continue  # another attempt on this account was counted first: look again
            if buckets.ip and self._ip_wait(seen.ip_previous, count - 1, elapsed) > 0:
                # Concurrent attempts from this IP got in first; this one stays counted.
                raise RateLimited(math.ceil(self._ip_wait(seen.ip_previous, count, elapsed)))
            return Attempt(self._store, buckets, claim, self._clock)
        raise RateLimited(1)

    def _window(self, now: datetime) -> tuple[datetime, float]:
        """The current fixed window's start, and the seconds since it began."""
        size = self._limits.window.total_seconds()
        stamp = now.timestamp()
        start = stamp - stamp % size
        return datetime.fromtimestamp(start, timezone.utc), stamp - start

    def _backoff_wait(self, state: Backoff, now: datetime) -> float:
        if state.failed_at is None:
            return 0.0
        ready = state.failed_at + timedelta(seconds=backoff_delay(state.failures, self._limits))
        return max(0.0, (ready - now).total_seconds())

    def _ip_wait(self, previous: int, current: int, elapsed: float) -> float:
        """Seconds until one more failure fits: previous * (size - t) / size + current + 1
        <= limit, where t is the time into the window. While the previous window still
        weighs, its share shrinks by previous/size a second; a full current window must
        itself become the previous one."""
        size, limit = self._limits.window.total_seconds(), self._limits.per_ip
        if current + 1 <= limit:
            excess = previous * (size - elapsed) / size + current + 1 - limit
            return 0.0 if excess <= 0 else excess * size / previous
        return size - elapsed + max(0.0, size - (limit - 1) * size / current)


def _known(client: Backoff, now: datetime, known_for: timedelta) -> bool:
    return client.succeeded_at is not None and now - client.succeeded_at < known_for


def _bucket(kind: str, *parts: str) -> str:
    # Hashed so that long or odd usernames make fixed-size keys and none is stored in
    # clear. NUL cannot occur in a username (app.api.params) or an IP, so parts cannot
    # run into each other.
    key = "\0".join(parts).encode("utf-8", "surrogatepass")
    return f"{kind}:" + hashlib.sha256(key).hexdigest()
