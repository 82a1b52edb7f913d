"""A user's sessions are bounded: listed a page at a time, and capped in number
(MAX_SESSIONS_PER_USER), so neither a response nor a table grows without bound."""

from __future__ import annotations

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import app_client, bearer, create_user, login_pair, refresh_grant, sid_of

pytestmark = pytest.mark.usefixtures("user")


async def test_session_list_is_paginated_with_a_cursor(client: httpx.AsyncClient, clock: FrozenClock) -> None:
    sids = []
    for i in range(5):
        pair = await login_pair(client)
        sids.append(sid_of(pair))
        if i % 2:
            clock.advance(seconds=1)  # some share a created_at: the id breaks the tie
    token = bearer(pair["access_token"])
    seen: list[str] = []
    cursor = None
    for _ in range(5):
        params = {"limit": "2"} | ({"cursor": cursor} if cursor else {})
        r = await client.get("/user/sessions", params=params, headers=token)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["sessions"]) <= 2
        seen += [s["id"] for s in body["sessions"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(sids) and len(seen) == 5  # every session once
    default = (await client.get("/user/sessions", headers=token)).json()
    assert len(default["sessions"]) == 5 and default["next_cursor"] is None


@pytest.mark.parametrize("params", [{"cursor": "garbage!"}, {"cursor": "bm90IGEgY3Vyc29y"}, {"limit": "0"}, {"limit": "1001"}])
async def test_bad_page_parameters_are_invalid_request(client: httpx.AsyncClient, params: dict[str, str]) -> None:
    token = bearer((await login_pair(client))["access_token"])
    r = await client.get("/user/sessions", params=params, headers=token)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text


async def test_starting_one_session_too_many_ends_the_oldest(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, max_sessions_per_user=3) as client:
        await create_user(settings, username="bob")
        bobs = await login_pair(client, username="bob")
        pairs = []
        for _ in range(4):
            pairs.append(await login_pair(client))
            clock.advance(seconds=1)
        oldest = pairs[0]
        assert (await client.get("/protected", headers=bearer(oldest["access_token"]))).status_code == 401
        assert (await refresh_grant(client, oldest["refresh_token"])).json()["error"] == "invalid_grant"
        live = (await client.get("/user/sessions", headers=bearer(pairs[-1]["access_token"]))).json()["sessions"]
        assert {s["id"] for s in live} == {sid_of(p) for p in pairs[1:]}
        assert (await client.get("/protected", headers=bearer(bobs["access_token"]))).status_code == 200  # others' untouched
