"""The background refresh task behind `start_auto_refresh()`, after the Saxo client's
`async_refresh`: it sleeps until the refresh is due, refreshes, and starts over.

It lives on the running event loop (Jupyter's, or an async service's), so a notebook whose
cells make no request for an hour still has a live session when the next cell runs. There
is deliberately no hidden thread or hidden loop: without a running loop it refuses with
one error that says what to do instead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from authclient.errors import AuthError, NoEventLoop, NotLoggedIn, ServerUnavailable, SessionExpired

log = logging.getLogger("authclient")

MAX_NAP = 5.0  # re-check at least this often: a new login or import may change the due time
BACKOFF = 5.0

NO_LOOP = (
    "start_auto_refresh() needs a running asyncio event loop and there is none here. "
    "In Jupyter/IPython call it from a notebook cell (the kernel runs a loop); in an async "
    "service call it inside your async main(), after asyncio.run(main()) started; in a plain "
    "script leave it out: every request through the client refreshes the session when due."
)


def start(
    seconds_until_due: Callable[[], float | None],
    refresh_if_due: Callable[[], Awaitable[object]],
) -> asyncio.Task[None]:
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        raise NoEventLoop(NO_LOOP) from None
    return loop.create_task(_run(seconds_until_due, refresh_if_due), name="authclient-auto-refresh")


def stop(task: asyncio.Task[None] | None) -> None:
    """Cancel from any thread (the sync client may be stopped outside the loop's thread)."""
    if task is None or task.done():
        return
    loop = task.get_loop()
    if loop.is_closed():
        return
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        task.cancel()
    else:
        loop.call_soon_threadsafe(task.cancel)


async def _run(
    seconds_until_due: Callable[[], float | None],
    refresh_if_due: Callable[[], Awaitable[object]],
) -> None:
    announced: float | None = None
    while True:
        delay = seconds_until_due()
        if delay is None:  # logged out: wait for a login or an import
            await asyncio.sleep(MAX_NAP)
            continue
        if delay > 0:
            due = round(time.time() + delay)
            if due != announced:
                announced = due
                at = datetime.fromtimestamp(due, timezone.utc).isoformat(timespec="seconds")
                log.debug("auto refresh will refresh in %.0f seconds, at %s", delay, at)
            await asyncio.sleep(min(delay, MAX_NAP))
            continue
        try:
            await refresh_if_due()
        except SessionExpired as exc:
            log.warning("auto refresh: %s", exc.message)
        except NotLoggedIn:
            pass
        except ServerUnavailable as exc:
            log.warning("auto refresh failed, retrying: %s", exc.message)
            await asyncio.sleep(exc.retry_after or BACKOFF)
        except AuthError as exc:
            log.error("auto refresh failed: %s", exc.message)
            await asyncio.sleep(BACKOFF)
        except Exception:  # noqa: BLE001 - keep the loop alive through a surprise, loudly
            log.exception("auto refresh failed unexpectedly")
            await asyncio.sleep(BACKOFF)
