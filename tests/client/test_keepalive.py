"""Keep-alive: `start_auto_refresh()` refreshes an idle session on the running event loop
(Jupyter, async services), and without a running loop refuses with one clear error."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest

from authclient import AsyncAuthClient, AuthClient, NoEventLoop, Session, SessionEvent
from tests.client.helpers import USERNAME, ClientClock, TokenCalls


def _set_on_refresh(flag: threading.Event) -> Callable[[SessionEvent, Session | None], None]:
    def callback(event: SessionEvent, _session: Session | None) -> None:
        if event is SessionEvent.REFRESH:
            flag.set()

    return callback


async def test_auto_refresh_keeps_idle_sessions_alive(server: str, password: str) -> None:
    """Both clients at once: the async one, and the notebook case of a blocking client
    whose keep-alive runs on the kernel's loop (the refresh itself in a worker thread, so
    the loop never blocks). Their clocks are moved to the refresh's due time and no
    request is made: the keep-alive alone refreshes, once, and then waits for the next
    due time."""
    calls_async, calls_sync = TokenCalls(), TokenCalls()
    clocks = [ClientClock(), ClientClock()]
    aio = AsyncAuthClient(server, http_client=calls_async.async_client(), clock=clocks[0])
    sync = AuthClient(server, http_client=calls_sync.sync_client(), clock=clocks[1])
    firsts = [await aio.login(USERNAME, password), sync.login(USERNAME, password)]
    refreshed = [threading.Event(), threading.Event()]
    for client, flag, clock, first in zip((aio, sync), refreshed, clocks, firsts):
        client.on_session_change(_set_on_refresh(flag))
        clock.move_to(first.refresh_due_at(client.refresh_margin))
    tasks = [aio.start_auto_refresh(), sync.start_auto_refresh()]
    assert aio.start_auto_refresh() is tasks[0]  # one loop per client, however often asked
    # a wait for the server's answers (real round trips, the sync one in a thread), not
    # for time to pass: the refreshes are due at once
    for _ in range(200):
        if all(flag.is_set() for flag in refreshed):
            break
        await asyncio.sleep(0.05)
    assert all(flag.is_set() for flag in refreshed)
    for _ in range(3):
        await asyncio.sleep(0)  # the keep-alive loops run on: nothing is due any more
    assert calls_async.refreshes == 1 and calls_sync.refreshes == 1
    for client, first in zip((aio, sync), firsts):
        assert client.session is not None and client.session.access_token != first.access_token
        assert not client.needs_refresh()
    aio.stop_auto_refresh()
    sync.close()
    await asyncio.sleep(0)
    assert all(task.cancelled() for task in tasks)
    await aio.aclose()


@pytest.mark.parametrize("client_type", [AuthClient, AsyncAuthClient])
def test_without_a_running_loop_the_error_says_what_to_do(client_type: type[AuthClient | AsyncAuthClient]) -> None:
    auth = client_type("http://127.0.0.1:9")
    with pytest.raises(NoEventLoop) as info:
        auth.start_auto_refresh()
    message = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert "running asyncio event loop" in message and "Jupyter" in message and "async main()" in message
