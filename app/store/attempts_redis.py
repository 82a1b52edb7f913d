"""Login counters in Redis (REDIS_URL): the same fixed windows as the SQL store, for
deployments that would rather not write a row per login attempt. INCR and EXPIRE go in
one MULTI, so a counter never outlives its window even if the server dies in between."""

from __future__ import annotations

from datetime import datetime

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.errors import ServiceUnavailable

KEY_PREFIX = "authserver:login:"


class RedisAttemptStore:
    def __init__(self, url: str, window_seconds: int, timeout: float) -> None:
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._ttl = window_seconds + 5

    async def hit(self, buckets: list[str], window_start: datetime) -> list[int]:
        stamp = int(window_start.timestamp())
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                for bucket in buckets:
                    key = f"{KEY_PREFIX}{bucket}:{stamp}"
                    pipe.incr(key)
                    pipe.expire(key, self._ttl)
                replies = await pipe.execute()
        except (RedisError, OSError):
            # Failing closed: without counters a brute force would be unlimited.
            raise ServiceUnavailable() from None
        return [int(count) for count in replies[0::2]]

    async def close(self) -> None:
        await self._client.aclose()
