"""Finished requests are counted and logged together at the end of their event-loop
iteration (app.api.observability.drain_finished), and none is held back: not when the
loop that should have drained it is gone, not at exit, not from a /metrics scrape."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.api import observability
from app.metrics import REQUESTS

ROOT = Path(__file__).resolve().parents[2]


async def _answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 204, "headers": []})
    await send({"type": "http.response.body", "body": b""})


async def _sent(message: dict[str, Any]) -> None:
    pass


def _request(request_id: str) -> dict[str, Any]:
    return {"type": "http", "method": "GET", "path": "/", "headers": [(b"x-request-id", request_id.encode())]}


@pytest.fixture
def handed(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> list[list[str]]:
    """Every hand-off to logging, one list of lines each; the process's metrics untouched."""
    observability.drain_finished()  # nothing of an earlier test's
    caplog.set_level(logging.INFO, logger="app.access")
    calls: list[list[str]] = []
    monkeypatch.setattr(observability, "write_lines", lambda logger, lines, contexts=None: calls.append(list(lines)))
    monkeypatch.setattr(observability, "observe_request", lambda *args: None)
    return calls


async def test_the_requests_of_one_iteration_are_handed_over_together(handed: list[list[str]]) -> None:
    log = observability.RequestLog(_answer)
    await asyncio.gather(*(log(_request(f"r{i}"), None, _sent) for i in range(10)))  # tasks of one iteration
    assert len(handed) == 1 and [line.split('"')[3] for line in handed[0]] == [f"r{i}" for i in range(10)]
    await log(_request("next"), None, _sent)  # in this task: its iteration has not ended
    assert len(handed) == 1
    await asyncio.sleep(0)
    assert len(handed) == 2 and '"next"' in handed[1][0]


def _stranded(request_id: str) -> None:
    """A request finished on a loop that stops in the same iteration and is closed: the
    drain scheduled on it never runs (as when a server's loop ends abruptly)."""
    loop = asyncio.new_event_loop()

    async def finish_and_stop() -> None:
        await observability.RequestLog(_answer)(_request(request_id), None, _sent)
        loop.stop()

    loop.create_task(finish_and_stop())
    loop.run_forever()
    loop.close()


def test_a_request_left_by_a_loop_that_is_gone_is_drained_by_the_next(handed: list[list[str]]) -> None:
    _stranded("stranded")
    assert handed == []
    asyncio.run(observability.RequestLog(_answer)(_request("later"), None, _sent))
    assert handed and '"stranded"' in handed[0][0]
    observability.drain_finished()
    assert any('"later"' in line for lines in handed for line in lines)


def test_without_a_loop_a_request_is_drained_at_once(handed: list[list[str]]) -> None:
    observability._finish((("GET", "/", 204), 0.001, "no-loop", {}, contextvars.copy_context()))
    assert len(handed) == 1 and '"no-loop"' in handed[0][0]


def test_the_last_requests_are_logged_at_exit() -> None:
    """uvicorn's loop stops without running what is scheduled on it; atexit drains."""
    script = textwrap.dedent("""
        import sys
        from app.logs import configure_logging
        from tests.unit.test_request_drain import _stranded
        configure_logging("INFO", stream=sys.stdout)
        _stranded("last-one")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert '"request_id": "last-one"' in done.stdout


async def test_a_scrape_counts_the_requests_finished_before_it(client: httpx.AsyncClient) -> None:
    await client.get("/healthz")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert observability._drain._on is None and not observability._finished  # nothing pending, nothing scheduled
    # a request finished in this iteration, its drain not run yet (appended as _finish would, unscheduled)
    observability._finished.append((("GET", "/drain-test", 204), 0.001, "scrape", {}, contextvars.copy_context()))
    body = (await client.get("/metrics")).text  # the route drains before it renders
    assert 'route="/drain-test"' in body
    assert REQUESTS.labels("GET", "/drain-test", "204")._value.get() >= 1


def test_a_line_that_cannot_be_formatted_costs_only_itself(
    handed: list[list[str]], caplog: pytest.LogCaptureFixture
) -> None:
    """A route may put its own `user_id` in request.state; ours are ints."""
    context = contextvars.copy_context()
    observability._finished.append((("GET", "/", 200), 0.001, "bad", {"user_id": "not-a-number"}, context))
    observability._finished.append((("GET", "/", 200), 0.001, "good", {}, context))
    observability.drain_finished()  # both in one batch
    assert len(handed) == 1 and len(handed[0]) == 1 and '"good"' in handed[0][0]
    warned = [r.getMessage() for r in caplog.records if "request bad" in r.getMessage()]
    assert warned and "not-a-number" not in warned[0]  # one line, the type of the error only


def test_drains_in_two_threads_at_once_lose_nothing(handed: list[list[str]]) -> None:
    """Loops may run in several threads (a TestClient beside an async test): each
    schedules its drains, drains the others' at once, and every request is still
    logged exactly once."""
    import threading

    async def finish_many(prefix: str) -> None:
        log = observability.RequestLog(_answer)
        for i in range(500):
            await log(_request(f"{prefix}{i}"), None, _sent)
            if i % 7 == 0:
                await asyncio.sleep(0)  # let this loop's scheduled drain run now and then

    threads = [threading.Thread(target=asyncio.run, args=(finish_many(p),)) for p in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    observability.drain_finished()
    ids = [line.split('"')[3] for lines in handed for line in lines]
    assert sorted(ids) == sorted(f"{p}{i}" for p in "abcd" for i in range(500))


def test_a_users_filter_reads_each_requests_own_context(caplog: pytest.LogCaptureFixture) -> None:
    """Lines handed over at the iteration's end still reach a handler or filter of the
    user's in the context of their own request (a correlation id, a trace id)."""
    observability.drain_finished()
    caplog.set_level(logging.INFO, logger="app.access")
    tag: contextvars.ContextVar[str] = contextvars.ContextVar("tag", default="none")
    seen: list[tuple[str, str]] = []

    def stamp(record: logging.LogRecord) -> bool:
        seen.append((record.getMessage().split('"')[3], tag.get()))
        return True

    access = logging.getLogger("app.access")
    access.addFilter(stamp)
    try:
        async def one(request_id: str) -> None:
            tag.set(f"tag-{request_id}")  # as an outer middleware would, per request
            await observability.RequestLog(_answer)(_request(request_id), None, _sent)

        async def main() -> None:
            await asyncio.gather(*(one(f"r{i}") for i in range(5)))
            await asyncio.sleep(0)

        asyncio.run(main())
    finally:
        access.removeFilter(stamp)
    assert sorted(seen) == [(f"r{i}", f"tag-r{i}") for i in range(5)]


def test_contexts_are_kept_only_while_lines_go_out_as_records(
    handed: list[list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With our handler alone (the server's own set-up) no record is made, so no context
    is kept; each drain looks again."""
    kept: list[object] = []
    real_finish = observability._finish
    monkeypatch.setattr(observability, "_finish", lambda request: (kept.append(request[4]), real_finish(request)))

    for records in (False, True):
        monkeypatch.setattr(observability, "as_records", lambda logger, records=records: records)
        observability.drain_finished()  # as the end of an iteration would: looks at the set-up
        asyncio.run(observability.RequestLog(_answer)(_request(f"records-{records}"), None, _sent))
    assert kept[0] is None and isinstance(kept[1], contextvars.Context)
