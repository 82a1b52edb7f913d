"""Expiry and refresh: requests keep working across several access token lifetimes; a 401
invalid_token costs one refresh and one retry, never a loop; an unreachable server costs
nothing that was stored. Time moves by the clocks the tests hand the client (and, where
the server runs in-process, the server): nothing here sleeps until a token is due."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from app.store.users import UserRecord
from authclient import AsyncAuthClient, AuthClient, ServerUnavailable, SessionFile
from tests.client.helpers import USERNAME, ClientClock, TokenCalls
from tests.support import app_client, live_server

OTHER_SECRET = "another-secret-that-signs-nothing-of-ours-0123456789abcdef"


async def test_requests_keep_working_across_expiry(
    settings: Settings, clock: FrozenClock, user: UserRecord, password: str
) -> None:
    """The server (in-process, on the test's FrozenClock) and the client share one clock,
    moved a minute at a time through three access-token lifetimes: every request is
    answered 200, each pair is refreshed once when due (30 s before it expires), and by
    the end the first access token really is refused: refreshing mattered."""
    calls = TokenCalls()
    async with app_client(settings, clock) as server:
        transport = httpx.ASGITransport(app=server.app)  # type: ignore[attr-defined]
        auth = AsyncAuthClient(
            "http://testserver", http_client=calls.async_client(transport), clock=lambda: clock.now().timestamp()
        )
        first = await auth.login(USERNAME, password)
        assert auth.refresh_margin == 30  # the default
        lifetime = int(settings.access_token_validity_minutes * 60)
        assert first.refresh_due_at(auth.refresh_margin) == first.access_expires_at - 30
        statuses, refreshes = [], []
        async with httpx.AsyncClient(auth=auth, transport=transport, base_url="http://testserver") as api:
            for _ in range(3 * lifetime // 60):
                clock.advance(minutes=1)
                statuses.append((await api.get("/protected")).status_code)
                refreshes.append(calls.refreshes)
            stale = await server.get("/user/me", headers={"Authorization": f"Bearer {first.access_token}"})
        await auth.aclose()
    assert set(statuses) == {200}
    assert calls.grants[0] == "password" and calls.refreshes == 3  # one per lifetime, none early
    per_minute = lifetime // 60
    assert [refreshes[per_minute * k - 1] - refreshes[per_minute * k - 2] for k in (1, 2, 3)] == [1, 1, 1]
    assert stale.status_code == 401
    assert auth.session is not None and auth.session.access_token != first.access_token


def test_a_401_invalid_token_costs_one_refresh_and_one_retry_never_a_loop(
    server: str, database_url: str, password: str, token_calls: TokenCalls
) -> None:
    auth = AuthClient(server, http_client=token_calls.sync_client())
    good = auth.login(USERNAME, password)
    forged = good.access_token[:-4] + ("AAAA" if not good.access_token.endswith("AAAA") else "BBBB")
    auth.login(session_string=dataclasses.replace(good, access_token=forged).export())
    with httpx.Client(auth=auth, base_url=server) as api:
        response = api.get("/user/me")
    assert response.status_code == 200 and response.json()["username"] == USERNAME
    assert [r.status_code for r in response.history] == [401]
    assert token_calls.grants == ["password", "refresh_token"]

    # A second server with another signing key refuses every token of ours: one refresh,
    # one retry, and the second 401 is handed back.
    with live_server(database_url, JWT_SECRET=OTHER_SECRET) as stranger:
        with httpx.Client(auth=auth, base_url=stranger) as api:
            refused = api.get("/user/me")
    assert refused.status_code == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert token_calls.grants == ["password", "refresh_token", "refresh_token"]
    assert auth.whoami()["username"] == USERNAME  # and the session itself is fine


def test_unreachable_server_keeps_the_session(
    database_url: str, user: UserRecord, password: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "session.json"
    clock = ClientClock()
    with live_server(database_url) as base:
        auth = AuthClient(base, session_file=path, clock=clock)
        before = auth.login(USERNAME, password)
    # the server is gone now
    with pytest.raises(ServerUnavailable, match="session is kept"):
        auth.refresh()
    assert auth.session == before and SessionFile(path).load(auth.server) == before
    # due but not expired: a request goes on with the current token instead of failing
    clock.move_to(before.refresh_due_at(auth.refresh_margin) + 0.05)
    assert auth.needs_refresh()
    with caplog.at_level(logging.WARNING, logger="authclient"):
        assert auth.get_access_token() == before.access_token
    assert "refresh postponed" in caplog.text
    # expired: there is no way around the server any more
    clock.move_to(before.access_expires_at + 0.05)
    with pytest.raises(ServerUnavailable):
        auth.get_access_token()
    assert auth.session == before and auth.is_valid()  # the refresh token still lives
