"""Where the server's log lines go. Its loggers (`app.*`) write JSON text lines — one per
request (app.access) and per security event (app.audit) — and nothing else configures
them: without a handler, Python drops INFO lines, so a server started by `serve` or by
`uvicorn --factory app.main:create_app` would log no requests at all."""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import TextIO

_MARK = "_authserver_handler"


def log_line(logger: logging.Logger, line: str) -> None:
    """An INFO line from the hot paths (one per request, one per token event): the same
    record `Logger.info` makes, without its search of the call stack for the caller,
    which no line of ours shows and which cost more than the rest of the record."""
    if logger.isEnabledFor(logging.INFO):
        logger.handle(logger.makeRecord(logger.name, logging.INFO, "", 0, line, (), None))


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Idempotent (every app of a process shares the logger): one handler on `app`,
    writing the message alone, one line each."""
    logger = logging.getLogger("app")
    logger.setLevel(level)
    if any(getattr(h, _MARK, False) for h in logger.handlers):
        return
    handler = BatchingStreamHandler(stream or sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    setattr(handler, _MARK, True)
    logger.addHandler(handler)


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Lines logged on the event loop are written together, once per loop iteration
    (one write instead of one per request under load; nothing waits longer than the
    iteration). Lines from other threads, or with no loop running, are written at once;
    logging.shutdown() flushes what is pending at exit."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._flush_on: asyncio.AbstractEventLoop | None = None  # the loop a flush is scheduled on

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._pending.append(self.format(record))
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.flush()
                return
            if self._flush_on is loop:
                return
            if self._flush_on is not None:  # scheduled on a loop that is gone: don't wait for it
                self.flush()
            self._flush_on = loop
            loop.call_soon(self.flush)
        except Exception:  # noqa: BLE001 - logging must never break a request
            self.handleError(record)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._pending, self._flush_on = self._pending, [], None
            if lines and self.stream is not None:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
