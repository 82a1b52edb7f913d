"""Work done once at the end of an event-loop iteration, however often it is asked for
in that iteration: the request log's drain (app.api.observability) and the log
handler's write (app.logs) batch a busy iteration's requests this way."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

_running_loop = asyncio._get_running_loop  # None where no loop runs, without a raise to catch


class AtIterationEnd:
    """`ask()` schedules `action` on the running loop's next iteration, once. With no loop
    running it runs at once; asked on another loop than the one it waits on (which may be
    gone, its callback never to run), it runs at once too, then waits on this one."""

    def __init__(self, action: Callable[[], None]) -> None:
        self._action = action
        self._on: asyncio.AbstractEventLoop | None = None  # the loop a run is scheduled on

    def ask(self) -> None:
        loop = _running_loop()
        if loop is self._on and loop is not None:
            return
        if loop is None or self._on is not None:
            self.run()
        if loop is not None:
            self._on = loop
            loop.call_soon(self.run)

    def run(self) -> None:
        self._on = None
        self._action()
