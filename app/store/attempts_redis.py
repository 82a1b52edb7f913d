"""Login failure counters in Redis (REDIS_URL), for deployments that would rather not
write a row per failed login: the same counts and the same compare-and-set as the SQL
store (app.store.attempts). Each change is one Lua script, so it is atomic and a key
never outlives its expiry even if the server dies half-way."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import redis.asyncio as redis
from redis.exceptions import RedisError

from app.errors import ServiceUnavailable
from app.store.attempts import Backoff, Buckets, Claim, Snapshot

KEY_PREFIX = "authserver:login:"

# KEYS: subject, [IP window]. ARGV: seen, failures, now, subject ttl, window ttl.
CLAIM = """
local current = tonumber(redis.call('HGET', KEYS[1], 'failures') or '0')
if current ~= tonumber(ARGV[1]) then return -1 end
redis.call('HSET', KEYS[1], 'failures', ARGV[2], 'failed_at', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
if #KEYS < 2 then return 0 end
local count = redis.call('INCR', KEYS[2])
redis.call('EXPIRE', KEYS[2], ARGV[5])
return count
"""
# KEYS: account, client or '', IP window or ''. ARGV: reset account (1/0), now, client ttl.
SUCCEEDED = """
if ARGV[1] == '1' and redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'failures', 0) end
if KEYS[2] ~= '' then
  redis.call('HSET', KEYS[2], 'failures', 0, 'succeeded_at', ARGV[2])
  redis.call('EXPIRE', KEYS[2], ARGV[3])
end
if KEYS[3] ~= '' and tonumber(redis.call('GET', KEYS[3]) or '0') > 0 then redis.call('DECR', KEYS[3]) end
return 0
"""
# KEYS: subject, IP window or ''. ARGV: claimed, restored failures, restored failed_at or ''.
WITHDRAW = """
if tonumber(redis.call('HGET', KEYS[1], 'failures') or '0') == tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'failures', ARGV[2])
  if ARGV[3] == '' then redis.call('HDEL', KEYS[1], 'failed_at')
  else redis.call('HSET', KEYS[1], 'failed_at', ARGV[3]) end
end
if KEYS[2] ~= '' and tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 0
"""


class RedisAttemptStore:
    def __init__(self, url: str, *, window_seconds: int, remember_seconds: int, timeout: float) -> None:
        """Window counts live for two windows (the limiter weighs the previous one);
        backoff hashes as long as a client stays known after its last login or failure."""
        self._client = redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
        self._window_ttl = 2 * window_seconds + 5
        self._remember = remember_seconds
        self._claim = self._client.register_script(CLAIM)
        self._succeeded = self._client.register_script(SUCCEEDED)
        self._withdraw = self._client.register_script(WITHDRAW)

    async def look(self, buckets: Buckets, window: datetime, previous: datetime) -> Snapshot:
        fields = ("failures", "failed_at", "succeeded_at")
        try:
            async with self._client.pipeline(transaction=False) as pipe:
                pipe.hmget(_key(buckets.account), fields)
                pipe.hmget(_key(buckets.client or ""), fields)
                pipe.get(_window(buckets.ip or "", previous))
                pipe.get(_window(buckets.ip or "", window))
                account, client, earlier, current = await pipe.execute()
        except (RedisError, OSError):
            # Failing closed: without counters a brute force would be unlimited.
            raise ServiceUnavailable() from None
        return Snapshot(_backoff(account), _backoff(client), int(earlier or 0), int(current or 0))

    async def claim(self, buckets: Buckets, claim: Claim, now: datetime) -> int | None:
        keys = [_key(claim.subject)] + ([_window(buckets.ip, claim.window)] if buckets.ip else [])
        args = [claim.seen.failures, claim.failures, now.timestamp(), self._remember, self._window_ttl]
        count = int(await self._run(self._claim, keys, args))
        return None if count < 0 else count

    async def succeeded(self, buckets: Buckets, claim: Claim, now: datetime) -> None:
        keys = [_key(buckets.account), _key(buckets.client) if buckets.client else "",
                _window(buckets.ip, claim.window) if buckets.ip else ""]
        await self._run(self._succeeded, keys, ["1" if claim.subject_is_account else "0", now.timestamp(), self._remember])

    async def withdraw(self, buckets: Buckets, claim: Claim) -> None:
        restored_at = claim.seen.failed_at.timestamp() if claim.seen.failed_at else ""
        keys = [_key(claim.subject), _window(buckets.ip, claim.window) if buckets.ip else ""]
        await self._run(self._withdraw, keys, [claim.failures, claim.seen.failures, restored_at])

    async def _run(self, script: Any, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (RedisError, OSError):
            raise ServiceUnavailable() from None

    async def close(self) -> None:
        await self._client.aclose()


def _key(bucket: str) -> str:
    return f"{KEY_PREFIX}{bucket}"


def _window(bucket: str, start: datetime) -> str:
    return f"{KEY_PREFIX}{bucket}:{int(start.timestamp())}"


def _backoff(values: list[bytes | None]) -> Backoff:
    failures, failed_at, succeeded_at = values
    return Backoff(int(failures or 0), _time(failed_at), _time(succeeded_at))


def _time(value: bytes | None) -> datetime | None:
    return datetime.fromtimestamp(float(value), timezone.utc) if value else None
