"""Login rate limits, checked before the password hash so a flood costs little CPU.

Fixed windows: a counter per (username) and per (client IP) per window. The window
expires, so an attacker can delay a victim's login at most until the window ends but can
never lock the account for good; the per-IP limit is what caps one attacker's rate.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Protocol

from app.clock import Clock
from app.errors import RateLimited
from app.store.users import normalise_username


@dataclass(frozen=True)
class LoginLimits:
    enabled: bool
    per_username: int
    per_ip: int
    window: timedelta


class AttemptStore(Protocol):
    """SQL (app.store.attempts) or Redis (app.store.attempts_redis)."""

    async def hit(self, buckets: list[str], window_start: datetime) -> list[int]: ...


class LoginRateLimiter:
    def __init__(self, limits: LoginLimits, store: AttemptStore, clock: Clock) -> None:
        self._limits = limits
        self._store = store
        self._clock = clock

    async def check(self, username: str, ip: str | None) -> None:
        if not self._limits.enabled:
            return
        now = self._clock.now()
        window = int(self._limits.window.total_seconds())
        epoch = int(now.timestamp())
        start = datetime.fromtimestamp(epoch - epoch % window, timezone.utc)
        retry_after = int(start.timestamp()) + window - epoch
        buckets = [_bucket("user", normalise_username(username).casefold())]
        limits = [self._limits.per_username]
        if ip:
            buckets.append(_bucket("ip", ip))
            limits.append(self._limits.per_ip)
        counts = await self._store.hit(buckets, start)
        if any(count > limit for count, limit in zip(counts, limits)):
            raise RateLimited(retry_after)


def _bucket(kind: str, key: str) -> str:
    # Hashed so that long or odd usernames make fixed-size keys and none is stored in clear.
    return f"{kind}:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()
