"""A login limit holds across two server processes: the counters are shared."""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import ExitStack

import httpx
import pytest

from tests.redis_support import fresh_redis_url
from tests.support import live_server

pytestmark = pytest.mark.usefixtures("user")


@pytest.mark.parametrize("store", ["sql", "redis"])
async def test_username_limit_holds_across_two_processes(database_url: str, store: str) -> None:
    env = {"LOGIN_ATTEMPTS_PER_USERNAME": "5"}
    if store == "redis":
        env["REDIS_URL"] = await fresh_redis_url()
    with ExitStack() as stack:
        bases = [stack.enter_context(live_server(database_url, **env)) for _ in range(2)]
        async with httpx.AsyncClient(timeout=30) as http:
            form = {"grant_type": "password", "username": "alice", "password": "wrong"}
            results = await asyncio.gather(
                *(http.post(f"{bases[i % 2]}/user/oauth/token", data=form) for i in range(12))
            )
    codes = Counter(r.status_code for r in results)
    assert codes == {400: 5, 429: 7}, codes
