"""Concurrent refreshes of one token rotate it exactly once (CONTRACT §4, Races).

In process (many asyncio tasks on one app, each on its own pooled connection) and over
real HTTP against server processes sharing one database.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from contextlib import ExitStack

import httpx
import pytest

from tests.support import PASSWORD, bearer, live_server, login_pair, refresh_grant

pytestmark = pytest.mark.usefixtures("user")
N = 20


async def test_concurrent_refreshes_in_process_have_one_winner(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    results = await asyncio.gather(*(refresh_grant(client, pair["refresh_token"]) for _ in range(N)))
    codes = Counter(r.status_code for r in results)
    assert codes == {200: 1, 400: N - 1}, codes
    assert {r.json()["error"] for r in results if r.status_code == 400} == {"invalid_grant"}
    # strict policy: the losers are reuse, so the session is revoked, the winner's pair too
    winner = next(r.json() for r in results if r.status_code == 200)
    assert (await client.get("/protected", headers=bearer(winner["access_token"]))).status_code == 401


async def test_concurrent_refresh_route_calls_have_one_winner(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    results = await asyncio.gather(
        *(client.post("/refresh", headers=bearer(pair["refresh_token"])) for _ in range(N))
    )
    assert Counter(r.status_code for r in results) == {200: 1, 401: N - 1}


@pytest.mark.parametrize("servers", [1, 2])
async def test_concurrent_refreshes_over_http_have_one_winner(database_url: str, servers: int) -> None:
    """Real processes, real sockets: N clients spread over `servers` processes."""
    with ExitStack() as stack:
        bases = [stack.enter_context(live_server(database_url)) for _ in range(servers)]
        async with httpx.AsyncClient(timeout=30) as http:
            r = await http.post(
                f"{bases[0]}/user/oauth/token",
                data={"grant_type": "password", "username": "alice", "password": PASSWORD},
            )
            token = r.json()["refresh_token"]
            results = await asyncio.gather(
                *(
                    http.post(
                        f"{bases[i % servers]}/user/oauth/token",
                        data={"grant_type": "refresh_token", "refresh_token": token},
                    )
                    for i in range(N)
                )
            )
    codes = Counter(r.status_code for r in results)
    assert codes == {200: 1, 400: N - 1}, [r.text for r in results if r.status_code not in (200, 400)]
    assert {r.json()["error"] for r in results if r.status_code == 400} == {"invalid_grant"}
