"""Expiry and refresh against the real server: requests keep working across several access
token lifetimes; a 401 invalid_token costs one refresh and one retry, never a loop; an
unreachable server costs nothing that was stored."""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path

import httpx
import pytest

from app.store.users import UserRecord
from authclient import AuthClient, ServerUnavailable, SessionFile
from tests.client.helpers import USERNAME, TokenCalls, short_live_server
from tests.support import live_server

OTHER_SECRET = "another-secret-that-signs-nothing-of-ours-0123456789abcdef"


def _sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def test_requests_keep_working_across_expiry(short_server: str, password: str, token_calls: TokenCalls) -> None:
    auth = AuthClient(short_server, http_client=token_calls.sync_client())
    first = auth.login(USERNAME, password)
    assert auth.refresh_margin == 30  # the default; a 3 s token is refreshed at half its life
    assert first.refresh_due_at(auth.refresh_margin) == pytest.approx(first.access_expires_at - 1.5)
    statuses = []
    with httpx.Client(auth=auth, base_url=short_server) as api:
        while time.time() < first.access_expires_at + 0.6:  # past the first expiry and the second refresh
            statuses.append(api.get("/protected").status_code)
            time.sleep(0.1)
        # the first token really has expired (no leeway on this server): refreshing mattered
        stale = httpx.get(f"{short_server}/user/me", headers={"Authorization": f"Bearer {first.access_token}"})
    assert stale.status_code == 401
    assert len(statuses) > 5 and set(statuses) == {200}
    assert token_calls.grants[0] == "password" and token_calls.refreshes >= 2
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
    with short_live_server(database_url) as base:
        auth = AuthClient(base, session_file=path)
        before = auth.login(USERNAME, password)
    # the server is gone now
    with pytest.raises(ServerUnavailable, match="session is kept"):
        auth.refresh()
    assert auth.session == before and SessionFile(path).load(auth.server) == before
    # due but not expired: a request goes on with the current token instead of failing
    _sleep_until(before.refresh_due_at(auth.refresh_margin) + 0.05)
    assert auth.needs_refresh()
    with caplog.at_level(logging.WARNING, logger="authclient"):
        assert auth.get_access_token() == before.access_token
    assert "refresh postponed" in caplog.text
    # expired: there is no way around the server any more
    _sleep_until(before.access_expires_at + 0.05)
    with pytest.raises(ServerUnavailable):
        auth.get_access_token()
    assert auth.session == before and auth.is_valid()  # the refresh token still lives
