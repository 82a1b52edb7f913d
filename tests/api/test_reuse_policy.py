"""Refresh reuse policies: strict (default), a grace period for lost responses and
parallel refreshes, and report-only detection."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import PASSWORD, app_client, bearer, login_pair, refresh_grant

pytestmark = pytest.mark.usefixtures("user")


@pytest.fixture
async def graced(settings: Settings, clock: FrozenClock) -> AsyncIterator[httpx.AsyncClient]:
    async with app_client(settings, clock, refresh_reuse_grace_seconds=10) as client:
        yield client


async def test_lost_response_retry_within_grace_gets_the_same_pair(graced: httpx.AsyncClient, clock: FrozenClock) -> None:
    pair = await login_pair(graced)
    first = (await refresh_grant(graced, pair["refresh_token"])).json()  # the answer "gets lost"
    clock.advance(seconds=5)
    retry = await refresh_grant(graced, pair["refresh_token"])
    assert retry.status_code == 200
    assert retry.json() == first  # the same successor pair
    assert (await graced.get("/protected", headers=bearer(first["access_token"]))).status_code == 200
    assert (await refresh_grant(graced, first["refresh_token"])).status_code == 200  # and it rotates on


async def test_parallel_refreshes_with_grace_all_get_the_one_successor(graced: httpx.AsyncClient) -> None:
    pair = await login_pair(graced)
    results = await asyncio.gather(*(refresh_grant(graced, pair["refresh_token"]) for _ in range(20)))
    assert Counter(r.status_code for r in results) == {200: 20}
    assert len({r.json()["refresh_token"] for r in results}) == 1
    token = results[0].json()["access_token"]
    assert (await graced.get("/protected", headers=bearer(token))).status_code == 200


async def test_replay_outside_the_window_is_theft(graced: httpx.AsyncClient, clock: FrozenClock) -> None:
    pair = await login_pair(graced)
    new = (await refresh_grant(graced, pair["refresh_token"])).json()
    clock.advance(seconds=11)
    assert (await refresh_grant(graced, pair["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await graced.get("/protected", headers=bearer(new["access_token"]))).status_code == 401


async def test_a_token_two_generations_old_is_theft_even_inside_the_window(graced: httpx.AsyncClient) -> None:
    pair = await login_pair(graced)
    second = (await refresh_grant(graced, pair["refresh_token"])).json()
    third = (await refresh_grant(graced, second["refresh_token"])).json()
    replay = await refresh_grant(graced, pair["refresh_token"])
    assert replay.json()["error"] == "invalid_grant"
    assert (await graced.get("/protected", headers=bearer(third["access_token"]))).status_code == 401


async def test_report_mode_refuses_reuse_but_keeps_the_session(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, refresh_reuse_detection="report") as client:
        pair = await login_pair(client)
        new = (await refresh_grant(client, pair["refresh_token"])).json()
        refused = (await refresh_grant(client, pair["refresh_token"])).json()
        assert refused["error"] == "invalid_grant"
        assert "revoked" not in refused["error_description"]  # it is not
        assert (await client.get("/protected", headers=bearer(new["access_token"]))).status_code == 200
        assert (await refresh_grant(client, new["refresh_token"])).status_code == 200
        events = [r.event for r in await client.app.state.services.auditor.tail(10)]  # type: ignore[attr-defined]
        assert "reuse_reported" in events and "reuse_detected" not in events


async def test_grace_pair_is_stored_sealed(graced: httpx.AsyncClient, settings: Settings) -> None:
    from tests.support import dump_database_text

    pair = await login_pair(graced)
    new = (await refresh_grant(graced, pair["refresh_token"])).json()
    dump = await dump_database_text(settings.database_url)
    for secret in (new["refresh_token"], new["access_token"], str(new["refresh_token"])[3:]):
        assert str(secret) not in dump


async def test_the_grace_window_keeps_the_client_binding_and_the_scope_check(
    graced: httpx.AsyncClient, settings: Settings, clock: FrozenClock
) -> None:
    """A replay within the window is a retry of the same rotation only for the client the
    token was issued to, asking for no more scope than the session has: anyone else gets
    no pair (and, not being the holder, revokes nothing)."""
    from tests.trust_support import basic, register_client

    mine, secret = await register_client(settings, "mine")
    other, other_secret = await register_client(settings, "other")
    login = {"grant_type": "password", "username": "alice", "password": PASSWORD, "scope": "read"}
    pair = (await graced.post("/user/oauth/token", data=login, headers=basic(mine.client_id, secret))).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    first = await graced.post("/user/oauth/token", data=refresh, headers=basic(mine.client_id, secret))
    assert first.status_code == 200, first.text
    clock.advance(seconds=2)
    anonymous = await graced.post("/user/oauth/token", data=refresh)
    foreign = await graced.post("/user/oauth/token", data=refresh, headers=basic(other.client_id, other_secret))
    wider = await graced.post("/user/oauth/token", data={**refresh, "scope": "read write"},
                              headers=basic(mine.client_id, secret))
    assert [r.status_code for r in (anonymous, foreign, wider)] == [400, 400, 400]
    assert [r.json()["error"] for r in (anonymous, foreign, wider)] == ["invalid_grant", "invalid_grant", "invalid_scope"]
    retry = await graced.post("/user/oauth/token", data=refresh, headers=basic(mine.client_id, secret))
    assert retry.status_code == 200 and retry.json() == first.json()
    assert (await graced.get("/protected", headers=bearer(first.json()["access_token"]))).status_code == 200
