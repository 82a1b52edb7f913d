"""Session-change notifications, after the atproto SDK's `on_session_change`.

The session string changes at every refresh (the refresh token rotates), so code that
stores it elsewhere must hear about every change. A failing callback is logged and
skipped: it must never cost the client a freshly rotated token.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from enum import Enum
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from authclient.session import Session

log = logging.getLogger("authclient")


class SessionEvent(str, Enum):
    CREATE = "create"  # login with username and password
    REFRESH = "refresh"  # a new token pair (rotated here, or by another process sharing the file)
    IMPORT = "import"  # login(session_string=...)
    LOGOUT = "logout"  # logout(): the session ended on the server and was cleared here
    EXPIRED = "expired"  # the server refused the refresh token; the session was cleared


SessionCallback: TypeAlias = Callable[
    [SessionEvent, "Session | None"], "None | Awaitable[None]"
]


class EventHub:
    """Callbacks get `(event, session)`; for LOGOUT and EXPIRED the session is the one
    that just ended (so save the string only on CREATE, REFRESH and IMPORT)."""

    def __init__(self) -> None:
        self._callbacks: list[SessionCallback] = []
        self._pending: set[asyncio.Task[None]] = set()

    def add(self, callback: SessionCallback) -> SessionCallback:
        self._callbacks.append(callback)
        return callback

    def emit_sync(self, event: SessionEvent, session: Session | None) -> None:
        """From sync code: a coroutine callback runs on this thread's running loop if
        there is one (Jupyter), else to completion with asyncio.run."""
        for callback in list(self._callbacks):
            try:
                result = callback(event, session)
                if inspect.isawaitable(result):
                    self._run_awaitable(result)
            except Exception:  # noqa: BLE001 - a user callback must not break the client
                log.exception("session-change callback %s failed on %s", _name(callback), event.value)

    async def emit_async(self, event: SessionEvent, session: Session | None) -> None:
        for callback in list(self._callbacks):
            try:
                result = callback(event, session)
                if inspect.isawaitable(result):
                    await result
            except Exception:  # noqa: BLE001 - a user callback must not break the client
                log.exception("session-change callback %s failed on %s", _name(callback), event.value)

    def _run_awaitable(self, awaitable: Awaitable[None]) -> None:
        async def wrapper() -> None:
            try:
                await awaitable
            except Exception:  # noqa: BLE001
                log.exception("async session-change callback failed")

        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            asyncio.run(wrapper())
            return
        task = loop.create_task(wrapper())
        self._pending.add(task)  # keep a reference until it finishes
        task.add_done_callback(self._pending.discard)


def _name(callback: object) -> str:
    return getattr(callback, "__qualname__", None) or type(callback).__name__
