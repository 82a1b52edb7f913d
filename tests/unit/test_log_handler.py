"""The server's log handler writes the lines of one event-loop iteration together, and
never holds a line back: not after the loop is gone, not from another thread; and
log_line's direct path to it changes nothing anyone can see."""

from __future__ import annotations

import asyncio
import io
import logging
import threading
from typing import Any

import pytest

from app import logs
from app.logs import BatchingStreamHandler, log_line


class CountingStream(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, text: str) -> int:
        self.writes += 1
        return super().write(text)


def logger_with(stream: CountingStream) -> logging.Logger:
    log = logging.getLogger(f"test.batching.{id(stream)}")
    log.propagate = False
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return log


def test_one_write_per_loop_iteration() -> None:
    stream = CountingStream()
    log = logger_with(stream)

    async def main() -> str:
        for i in range(5):
            log.info("line %d", i)
        held = stream.getvalue()  # nothing written yet: the iteration is not over
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return held

    assert asyncio.run(main()) == ""
    assert stream.getvalue() == "".join(f"line {i}\n" for i in range(5))
    assert stream.writes == 1


def test_no_line_waits_for_a_loop_that_is_gone() -> None:
    stream = CountingStream()
    log = logger_with(stream)

    async def log_and_return() -> None:
        log.info("last words")  # the flush is scheduled, but the loop ends first

    loop = asyncio.new_event_loop()
    loop.run_until_complete(log_and_return())
    loop.close()
    asyncio.run(log_and_return())  # the next loop's first line flushes the stranded one
    assert stream.getvalue().startswith("last words\n")


def test_lines_from_other_threads_are_written_at_once() -> None:
    stream = CountingStream()
    log = logger_with(stream)
    worker = threading.Thread(target=log.warning, args=("from a thread",))
    worker.start()
    worker.join()
    assert stream.getvalue() == "from a thread\n"
    log.info("no loop at all")
    assert stream.getvalue().endswith("no loop at all\n")


# log_line's direct path: taken only where the server's own set-up is all a line reaches,
# and indistinguishable from the record path in what it writes.


def server_logger(stream: CountingStream) -> logging.Logger:
    """A logger set up as configure_logging sets up `app`: our handler and formatter."""
    parent = logging.getLogger(f"test.direct.{id(stream)}")
    parent.propagate = False
    parent.setLevel(logging.INFO)
    handler = BatchingStreamHandler(stream)
    handler.setFormatter(logs._FORMATTER)
    parent.addHandler(handler)
    return parent.getChild("access")


def test_the_direct_path_writes_what_the_record_path_writes(monkeypatch: pytest.MonkeyPatch) -> None:
    direct, via_record = CountingStream(), CountingStream()
    made: list[logging.LogRecord] = []
    real_make = logging.Logger.makeRecord

    def counting_make(self: logging.Logger, *args: Any, **kwargs: Any) -> logging.LogRecord:
        made.append(real_make(self, *args, **kwargs))
        return made[-1]

    monkeypatch.setattr(logging.Logger, "makeRecord", counting_make)
    line = '{"request_id": "abc", "status": 200, "note": "%s %d"}'  # no %-formatting either way
    log_line(server_logger(direct), line)
    assert made == []  # straight to the handler
    slow = server_logger(via_record)
    slow.addFilter(lambda record: True)  # any filter: the record path
    log_line(slow, line)
    assert len(made) == 1
    assert direct.getvalue() == via_record.getvalue() == line + "\n"


def test_filters_other_formatters_and_other_handlers_still_see_every_line() -> None:
    dropped = CountingStream()
    log = server_logger(dropped)
    log.parent.handlers[0].addFilter(lambda record: False)  # type: ignore[union-attr]
    log_line(log, "never written")
    assert dropped.getvalue() == ""

    reformatted = CountingStream()
    log = server_logger(reformatted)
    log.parent.handlers[0].setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))  # type: ignore[union-attr]
    log_line(log, "hello")
    assert reformatted.getvalue() == f"INFO {log.name} hello\n"

    ours, theirs = CountingStream(), CountingStream()
    log = server_logger(ours)
    extra = logging.StreamHandler(theirs)
    log.parent.addHandler(extra)  # type: ignore[union-attr]  # e.g. a user's, or pytest's caplog
    log_line(log, "both")
    assert ours.getvalue() == "both\n" and theirs.getvalue() == "both\n"


def test_a_subclass_of_the_handler_gets_the_record() -> None:
    """A handler built on ours may override emit (to redact, say): it is not bypassed."""

    class Redacting(BatchingStreamHandler):
        def emit(self, record: logging.LogRecord) -> None:
            record.msg = str(record.msg).replace("secret", "***")
            super().emit(record)

    stream = CountingStream()
    log = server_logger(stream)
    parent = log.parent
    assert parent is not None
    redacting = Redacting(stream)
    redacting.setFormatter(logs._FORMATTER)
    parent.handlers = [redacting]
    log_line(log, "a secret")
    assert stream.getvalue() == "a ***\n"
