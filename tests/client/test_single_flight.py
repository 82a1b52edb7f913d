"""Single-flight refresh: 100 concurrent requests that find the token due make exactly one
call to the token endpoint; the others wait for it and go out with the new token."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import httpx

from authclient import AsyncAuthClient, AuthClient, SessionEvent
from authclient.session import Session
from tests.client.helpers import USERNAME, TokenCalls

N = 100
LIMITS = httpx.Limits(max_connections=N, max_keepalive_connections=N)


class JumpClock:
    """The client's clock, moved to the moment the first token is due, and back to real
    time once the refresh is reported: no sleeping, and no second refresh on a machine
    so loaded that some requests start only after the first refresh came back."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def jump_to_due(self, session: Session, margin: float) -> None:
        self.offset = max(0.0, session.refresh_due_at(margin) - time.time() + 0.05)

    def back(self, *_: object) -> None:
        self.offset = 0.0


async def test_100_concurrent_async_requests_make_one_refresh(
    server: str, password: str, token_calls: TokenCalls
) -> None:
    clock = JumpClock()
    auth = AsyncAuthClient(server, http_client=token_calls.async_client(), clock=clock)
    first = await auth.login(USERNAME, password)
    events: list[SessionEvent] = []
    auth.on_session_change(lambda event, _session: events.append(event))
    auth.on_session_change(clock.back)
    clock.jump_to_due(first, auth.refresh_margin)
    assert auth.needs_refresh()
    async with httpx.AsyncClient(auth=auth, base_url=server, limits=LIMITS) as api:
        responses = await asyncio.gather(*(api.get("/user/me") for _ in range(N)))
    assert [r.status_code for r in responses] == [200] * N
    assert token_calls.grants == ["password", "refresh_token"]
    assert events == [SessionEvent.REFRESH]
    assert auth.session is not None
    sent = {r.request.headers["authorization"] for r in responses}
    assert sent == {f"Bearer {auth.session.access_token}"} and first.access_token not in str(sent)
    await auth.aclose()


def test_100_threads_make_one_refresh(server: str, password: str, token_calls: TokenCalls) -> None:
    clock = JumpClock()
    auth = AuthClient(server, http_client=token_calls.sync_client(), clock=clock)
    first = auth.login(USERNAME, password)
    auth.on_session_change(clock.back)
    clock.jump_to_due(first, auth.refresh_margin)
    assert auth.needs_refresh()
    start = threading.Barrier(N)
    with httpx.Client(auth=auth, base_url=server, limits=LIMITS) as api:

        def call(_: int) -> httpx.Response:
            start.wait(timeout=10)  # all threads ask at the same moment
            return api.get("/user/me")

        with ThreadPoolExecutor(max_workers=N) as pool:
            responses = list(pool.map(call, range(N)))
    assert [r.status_code for r in responses] == [200] * N
    assert token_calls.grants == ["password", "refresh_token"]
    assert auth.session is not None
    assert {r.request.headers["authorization"] for r in responses} == {f"Bearer {auth.session.access_token}"}
    auth.close()
