"""Session strings and session events, as in the atproto SDK, against the real server:
export/import, CREATE/REFRESH/IMPORT/LOGOUT/EXPIRED, the punished refresh-token reuse, and
no token or password in any repr, summary, message or log line."""

from __future__ import annotations

import logging
import time

import httpx
import pytest

from authclient import (
    AsyncAuthClient,
    AuthClient,
    InvalidSessionString,
    LoginFailed,
    NotLoggedIn,
    Session,
    SessionEvent,
    SessionExpired,
)
from tests.client.helpers import USERNAME

E = SessionEvent


def _recorder(client: AuthClient | AsyncAuthClient) -> list[SessionEvent]:
    seen: list[SessionEvent] = []
    client.on_session_change(lambda event, _session: seen.append(event))
    return seen


def test_refresh_token_reuse_surfaces_as_session_expired(server: str, password: str) -> None:
    """Two clients resume one exported session; the second to spend the same refresh
    token is taken for a thief by the server, which revokes the whole session."""
    first = AuthClient(server)
    first_events = _recorder(first)
    first.login(USERNAME, password)
    exported = first.export_session()

    second = AuthClient(server)
    second_events = _recorder(second)
    second.login(session_string=exported)
    second.refresh()  # spends the shared refresh token

    with pytest.raises(SessionExpired, match="log in again") as info:
        first.refresh()  # the same token again
    assert info.value.error == "invalid_grant"
    assert first_events == [E.CREATE, E.EXPIRED]
    assert first.session is None and not first.is_valid()
    with pytest.raises(NotLoggedIn):
        first.export_session()

    # the revocation took the rotated pair too: second's next request finds it ended
    with httpx.Client(auth=second, base_url=server) as api, pytest.raises(SessionExpired):
        api.get("/user/me")
    assert second_events == [E.IMPORT, E.REFRESH, E.EXPIRED]
    assert second.session is None


async def test_session_string_changes_at_every_refresh_and_async_callbacks_hear_it(
    server: str, password: str
) -> None:
    auth = AsyncAuthClient(server)
    heard: list[tuple[SessionEvent, str | None]] = []

    @auth.on_session_change
    async def record(event: SessionEvent, session: Session | None) -> None:
        heard.append((event, session.export() if session else None))

    await auth.login(USERNAME, password)
    created = auth.export_session()
    await auth.refresh()
    refreshed = auth.export_session()
    assert created != refreshed
    assert heard == [(E.CREATE, created), (E.REFRESH, refreshed)]

    resumed = AsyncAuthClient(server)
    resumed_events = _recorder(resumed)
    await resumed.login(session_string=refreshed)
    assert (await resumed.whoami())["username"] == USERNAME
    assert resumed.session is not None
    old_access = resumed.session.access_token
    await resumed.logout()
    assert resumed_events == [E.IMPORT, E.LOGOUT] and resumed.session is None
    gone = httpx.get(f"{server}/user/me", headers={"Authorization": f"Bearer {old_access}"})
    assert gone.status_code == 401  # logout ended the session on the server

    with pytest.raises(SessionExpired):  # the first client shared that session
        await auth.refresh()
    assert [event for event, _ in heard] == [E.CREATE, E.REFRESH, E.EXPIRED]
    await auth.aclose()
    await resumed.aclose()


def test_session_strings_for_another_server_or_garbage_are_refused() -> None:
    mine = "http://127.0.0.1:9"
    session = Session(
        server="http://127.0.0.1:8", username=USERNAME, access_token="a.b.c", refresh_token="r",
        token_type="Bearer", scope="", access_lifetime=60, access_expires_at=time.time() + 60,
        refresh_expires_at=None, session_expires_at=None, created_at=time.time(),
    )
    auth = AuthClient(mine)
    with pytest.raises(InvalidSessionString, match="is for http://127.0.0.1:8, not for http://127.0.0.1:9"):
        auth.login(session_string=session.export())  # its tokens must not go to another server
    for garbage in ("", "hello", "authclient1:!!!", "authclient1:e30"):
        with pytest.raises(InvalidSessionString):
            auth.login(session_string=garbage)
    assert auth.session is None
    imported = AuthClient(session.server)
    assert imported.login(session_string=session.export()) == session


def test_sync_client_events_and_no_secret_in_reprs_summaries_or_logs(
    server: str, password: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    auth = AuthClient(server)
    heard: list[SessionEvent] = []

    async def record(event: SessionEvent, _session: Session | None) -> None:  # async, on a sync client
        heard.append(event)

    def broken(_event: SessionEvent, _session: Session | None) -> None:
        raise RuntimeError("a bug in user code")  # logged and skipped: must not cost the tokens

    auth.on_session_change(broken)
    auth.on_session_change(record)
    with pytest.raises(LoginFailed) as refused:
        auth.login(USERNAME, "not-the-password-xyzzy")
    assert refused.value.error == "invalid_grant" and refused.value.status_code == 400
    assert "xyzzy" not in str(refused.value) and auth.session is None and heard == []
    with pytest.raises(NotLoggedIn, match="login"):
        auth.get_access_token()

    seen = [auth.login(USERNAME, password)]
    summary = auth.summary()
    assert summary.startswith(f"{USERNAME} at {server}, session 0s old, access token expires in 19m")
    assert "refresh token expires in 59m" in summary and ", session ends in " in summary
    assert auth.is_valid() and not auth.needs_refresh()
    seen.append(auth.refresh())
    texts = [repr(auth), summary, auth.summary(), *(repr(s) for s in seen), *(str(s) for s in seen)]
    auth.logout()
    auth.logout()  # idempotent: nothing held, nothing to say
    assert heard == [E.CREATE, E.REFRESH, E.LOGOUT]
    assert "session refreshed" in caplog.text and "a bug in user code" in caplog.text
    texts.append(caplog.text)
    secrets = [password] + [s.access_token for s in seen] + [s.refresh_token for s in seen]
    for text in texts:
        for secret in secrets:
            assert secret not in text
    assert auth.summary() == f"not logged in to {server}"
    assert not auth.is_valid() and not auth.needs_refresh()
