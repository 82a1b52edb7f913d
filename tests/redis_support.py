"""A Redis for tests: db 15 of the local server, flushed per test. Unreachable: skip with
the reason, except in CI, where it fails."""

from __future__ import annotations

import os

import pytest

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


async def fresh_redis_url() -> str:
    import redis.asyncio as redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        await client.flushdb()
    except Exception as exc:  # noqa: BLE001 - any failure means "no Redis here"
        reason = f"Redis not reachable at {REDIS_URL} ({type(exc).__name__})"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"{reason}; CI must not skip the Redis tests", pytrace=False)
        pytest.skip(f"{reason}; start Redis or set TEST_REDIS_URL")
    finally:
        await client.aclose()
    return REDIS_URL
