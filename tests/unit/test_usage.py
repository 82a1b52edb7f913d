"""Session last-used writes: at most one per session per interval, and coalesced, so
many sessions falling due together cost one statement, not one transaction each.

The recorder waits FLUSH_DELAY on the event loop's clock; the tests that let it run
use a virtual one (tests/virtual_time.py), so its sleeps take no wall-clock time."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from app.clock import FrozenClock
from app.oauth.usage import INTERVAL, UsageRecorder
from tests.virtual_time import on_virtual_time


class Admin:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[str], datetime]] = []
        self.fail = fail

    async def touch_many(self, session_ids: list[str], at: datetime) -> None:
        self.calls.append((session_ids, at))
        if self.fail:
            raise ConnectionError("database down")


@on_virtual_time
async def test_sessions_falling_due_together_are_written_in_one_go() -> None:
    admin, clock = Admin(), FrozenClock()
    usage = UsageRecorder(admin, clock, flush_delay=0.05)  # type: ignore[arg-type]
    ids = [f"s{i}" for i in range(500)]
    for sid in ids * 3:  # used again and again: still one write each
        usage.used(sid)
    assert admin.calls == []  # nothing on the request path
    await asyncio.sleep(0.2)
    assert admin.calls == [(ids, clock.now())]

    clock.advance(INTERVAL - timedelta(seconds=1))
    usage.used("s1")
    await asyncio.sleep(0.2)
    assert len(admin.calls) == 1  # within the interval: no write
    clock.advance(timedelta(seconds=2))
    usage.used("s1")
    await asyncio.sleep(0.2)
    assert admin.calls[1] == (["s1"], clock.now())


async def test_drain_writes_what_is_due_at_once() -> None:
    admin, clock = Admin(), FrozenClock()
    usage = UsageRecorder(admin, clock, flush_delay=60)  # type: ignore[arg-type]
    usage.used("a")
    usage.used("b")
    await usage.drain()
    assert admin.calls == [(["a", "b"], clock.now())]
    await usage.drain()
    assert len(admin.calls) == 1


@on_virtual_time
async def test_a_failed_write_is_not_a_failed_request() -> None:
    admin, clock = Admin(fail=True), FrozenClock()
    usage = UsageRecorder(admin, clock, flush_delay=0.01)  # type: ignore[arg-type]
    usage.used("a")
    await asyncio.sleep(0.1)
    assert len(admin.calls) == 1
    usage.used("b")  # a new flush is scheduled after the failed one
    await usage.drain()
    assert admin.calls[-1][0] == ["b"]


@on_virtual_time
async def test_drain_waits_for_a_write_under_way() -> None:
    """Shutdown disposes the engine after drain(): a flush already writing must finish
    first."""
    gate = asyncio.Event()

    class SlowAdmin(Admin):
        async def touch_many(self, session_ids: list[str], at: datetime) -> None:
            await gate.wait()
            await super().touch_many(session_ids, at)

    admin, clock = SlowAdmin(), FrozenClock()
    usage = UsageRecorder(admin, clock, flush_delay=0.01)  # type: ignore[arg-type]
    usage.used("a")
    await asyncio.sleep(0.05)  # the flush is now writing, held at the gate
    draining = asyncio.create_task(usage.drain())
    await asyncio.sleep(0.05)
    assert not draining.done()
    gate.set()
    await draining
    assert [ids for ids, _ in admin.calls] == [["a"]]
