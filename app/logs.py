"""Where the server's log lines go. Its loggers (`app.*`) write JSON text lines — one per
request (app.access) and per security event (app.audit) — and nothing else configures
them: without a handler, Python drops INFO lines, so a server started by `serve` or by
`uvicorn --factory app.main:create_app` would log no requests at all."""

from __future__ import annotations

import contextvars
import logging
import sys
from typing import TextIO

from app.iteration import AtIterationEnd

_MARK = "_authserver_handler"


def log_line(logger: logging.Logger, line: str) -> None:
    """An INFO line from the hot paths (one per request, one per token event).

    Where the logging set-up is the server's own — our one handler is all an INFO line of
    `logger` reaches, with our formatter and no filter anywhere — the line goes straight
    to that handler: a LogRecord would be built only to be formatted back into `line`
    (~8 µs of a ~90 µs request, bench/README.md). Any other set-up (a handler of the
    user's, pytest's caplog, a filter, another formatter) gets the record, as
    `Logger.info` makes it minus its search of the call stack for the caller."""
    if logger.isEnabledFor(logging.INFO):
        write_line(logger, line)


def write_line(logger: logging.Logger, line: str) -> None:
    """`log_line` where the caller has just checked that INFO is enabled."""
    write_lines(logger, [line])


def as_records(logger: logging.Logger) -> bool:
    """Whether INFO lines of `logger` would reach anything but our own handler alone."""
    return _sole_handler(logger) is None


def write_lines(
    logger: logging.Logger, lines: list[str], contexts: list[contextvars.Context | None] | None = None
) -> None:
    """INFO lines, in order, the hand-off decided once for all of them. Lines written
    later than they happened come with their `contexts`: a record is handled in its own,
    so filters and handlers that read context variables see what they would have then."""
    handler = _sole_handler(logger)
    if handler is not None:
        handler.add_lines(lines)
        return
    for i, line in enumerate(lines):
        record = logger.makeRecord(logger.name, logging.INFO, "", 0, line, (), None)
        context = contexts[i] if contexts is not None else None
        if context is None:
            logger.handle(record)
        else:
            context.run(logger.handle, record)


def _sole_handler(logger: logging.Logger) -> BatchingStreamHandler | None:
    found: BatchingStreamHandler | None = None
    current: logging.Logger | None = logger
    while current is not None:
        if current.filters or current.disabled:
            return None
        for handler in current.handlers:
            if handler.level > logging.INFO:
                continue  # would not take the line either way
            if found is not None or type(handler) is not BatchingStreamHandler or handler.filters \
                    or handler.formatter is not _FORMATTER:
                return None
            found = handler  # exactly ours: a subclass may override emit (to redact, say)
        current = current.parent if current.propagate else None
    return found


_FORMATTER = logging.Formatter("%(message)s")


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Idempotent (every app of a process shares the logger): one handler on `app`,
    writing the message alone, one line each."""
    logger = logging.getLogger("app")
    logger.setLevel(level)
    if any(getattr(h, _MARK, False) for h in logger.handlers):
        return
    handler = BatchingStreamHandler(stream or sys.stderr)
    handler.setFormatter(_FORMATTER)
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
        self._flushing = AtIterationEnd(self.flush)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._enqueue(self.format(record))
        except Exception:  # noqa: BLE001 - logging must never break a request
            self.handleError(record)

    def add_lines(self, lines: list[str]) -> None:
        """Lines already formatted (app.logs.write_lines): what `handle` does for a
        record, lock and all, minus the record."""
        with self.lock:  # type: ignore[union-attr]
            try:
                self._pending.extend(lines)
                self._flushing.ask()
            except Exception:  # noqa: BLE001 - logging must never break a request
                self.handleError(logging.makeLogRecord({"msg": lines[0] if lines else ""}))

    def _enqueue(self, line: str) -> None:
        self._pending.append(line)
        self._flushing.ask()

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]
            lines, self._pending = self._pending, []
            if lines and self.stream is not None:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
