"""The server's log handler writes the lines of one event-loop iteration together, and
never holds a line back: not after the loop is gone, not from another thread."""

from __future__ import annotations

import asyncio
import io
import logging
import threading

from app.logs import BatchingStreamHandler


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
