"""An event loop whose clock only moves when nothing else can happen, for unit tests of
code that sleeps (`asyncio.sleep`, `loop.call_later`) without taking a clock of its own.

`loop.time()` is virtual: when every task waits on a timer, the loop jumps to the next
timer instead of waiting for it. Sleeps then take no wall-clock time and their order is
exact whatever the machine's load or the process's nice level. Code that also takes a
monotonic clock (the session cache's `monotonic=`) is given `loop.time` so both agree.

Only for tests without network I/O: a socket's answer takes real time, which this loop
would skip over straight to the next timer (a client's timeout, say).
"""

from __future__ import annotations

import asyncio
import functools
import selectors
from collections.abc import Callable, Coroutine
from typing import Any


class _SkippingSelector(selectors.DefaultSelector):  # type: ignore[misc,valid-type]
    """Answers what is ready now; where the loop would wait for a timer, moves the
    loop's clock to it instead. With no timer at all it really waits: only another
    thread (an executor's) can then wake the loop."""

    def __init__(self, loop: VirtualTimeLoop) -> None:
        super().__init__()
        self.loop = loop

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            return super().select(None)  # type: ignore[no-any-return]
        ready: list[tuple[selectors.SelectorKey, int]] = super().select(0)
        if not ready and timeout > 0:
            self.loop.advance(timeout)
        return ready


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self.virtual_now = 0.0
        super().__init__(selector=_SkippingSelector(self))

    def time(self) -> float:
        return self.virtual_now

    def advance(self, seconds: float) -> None:
        self.virtual_now += seconds


def on_virtual_time(test: Callable[..., Coroutine[Any, Any, None]]) -> Callable[..., None]:
    """Runs an async test on a fresh VirtualTimeLoop instead of pytest-asyncio's loop
    (the test's fixtures are passed through)."""

    @functools.wraps(test)
    def run(*args: Any, **kwargs: Any) -> None:
        # asyncio.Runner cancels what the test left running (a failed one, say) and closes the loop
        with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
            runner.run(test(*args, **kwargs))

    return run
