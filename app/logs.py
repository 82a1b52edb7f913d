"""Where the server's log lines go: one JSON object per line, through `logging`.

Every line has `timestamp` (UTC, ISO 8601), `level`, `logger` and `message`, plus the
record's structured fields (what the caller passed as `extra=`): the request log
(`app.access`) and the audit events (`app.audit`) carry theirs that way.

Nothing else configures the server's loggers: without a handler, Python drops INFO
lines, so a server started by `serve` or by `uvicorn --factory app.main:create_app`
would log no requests at all. `configure_logging` gives `app` its handler; `serve`
passes uvicorn `uvicorn_log_config()`, and under `uvicorn --factory` configure_logging
puts the same formatter on the handlers of uvicorn's default configuration, so uvicorn's
own lines come out as JSON too. A logging configuration of your own (`--log-config`)
is left as it is, except that uvicorn's lines never carry a query string's values
(`MaskQueryValues`): /user/_logout may carry a token there.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import re
import sys
import time
from typing import Any, TextIO

# The attributes every LogRecord has; anything else on a record came as `extra=`.
# `color_message` is uvicorn's: its message again, with terminal colours.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message", "taskName"}
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")
_QUERY_LOGGERS = ("uvicorn.access", "uvicorn.asgi")  # the loggers that name query strings


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a message or traceback with newlines is
    escaped inside its string)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:  # as dictConfig calls a formatter class
        super().__init__(*args, **kwargs)
        self._second = -1
        self._second_text = ""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": self._timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name, value in record.__dict__.items():
            if name not in _STANDARD and name not in line:
                line[name] = value
        if record.exc_info:
            line.setdefault("exception", self.formatException(record.exc_info))
        elif record.exc_text:
            line.setdefault("exception", record.exc_text)
        if record.stack_info:
            line.setdefault("stack", self.formatStack(record.stack_info))
        return _encode(line)

    def _timestamp(self, created: float) -> str:
        """UTC, ISO 8601, milliseconds: `2026-01-31T12:00:00.123+00:00`, as
        `datetime.fromtimestamp(created, timezone.utc).isoformat(timespec="milliseconds")`
        writes it (rounded to the microsecond, then cut). The text of the second is kept:
        the lines of a second share it."""
        fraction, whole = math.modf(created)
        second, micros = divmod(int(whole) * 1_000_000 + round(fraction * 1_000_000), 1_000_000)
        if second != self._second:
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{micros // 1000:03d}+00:00"


_encode = json.JSONEncoder(ensure_ascii=True, default=str).encode


def flush_logs() -> None:
    """Write the lines still waiting for their loop iteration to end: the server calls
    it as it stops, since a `--workers` process ends without Python's exit handlers
    (`logging.shutdown`)."""
    for handler in logging.getLogger("app").handlers:
        handler.flush()


def log_fields(logger: logging.Logger, level: int, message: str, args: tuple[object, ...], fields: dict[str, Any]) -> None:
    """`logger.log(level, message, *args, extra=fields)` without the search of the stack
    for the caller's source line, which the server's lines do not show: what
    `Logger.log` does, through the public `Logger.makeRecord` and `Logger.handle`, with
    the source unknown, as logging has it when it cannot find one."""
    if logger.isEnabledFor(level):
        logger.handle(logger.makeRecord(logger.name, level, "(unknown file)", 0, message, args, None, extra=fields))


MASK = "***"
# A query parameter's name as clients write them; anything else in a name's place (a
# token sent as `?eyJ…`) is masked as well.
_QUERY_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]{0,39}")


def mask_query(query: str) -> str:
    """`access_token=abc&all=true` → `access_token=***&all=***`: every value masked,
    whatever its name, since a token, a password, a client secret or a code may come in
    any parameter (/user/_logout accepts `access_token` there); names stay, so a line
    still shows what was sent."""
    parts = []
    for part in query.split("&"):
        name, equals, _ = part.partition("=")
        shown = name if not name or _QUERY_NAME.fullmatch(name) else MASK
        parts.append(f"{shown}={MASK}" if equals else shown)
    return "&".join(parts)


class MaskQueryValues(logging.Filter):
    """uvicorn names a request's query string in two places: its access line
    (`'%s - "%s %s HTTP/%s" %d'`: client, method, path with query, version, status) and,
    at `--log-level trace`, the ASGI scope (`uvicorn.asgi`: `'%s [%d] Started scope=%s'`).
    Both keep the query's names and lose its values, so no token sent in a query string
    reaches a log (RFC 6750 §5.3: bearer tokens in URLs end up in logs)."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if not isinstance(args, tuple) or len(args) < 3:
            return True
        target = args[2]
        if isinstance(target, str) and "?" in target:
            path, _, query = target.partition("?")
            record.args = (*args[:2], f"{path}?{mask_query(query)}", *args[3:])
        elif isinstance(target, dict) and target.get("query_string"):
            raw = target["query_string"]
            query = raw.decode("latin-1") if isinstance(raw, bytes) else str(raw)
            scope = {**target, "query_string": mask_query(query).encode("latin-1")}
            record.args = (*args[:2], scope, *args[3:])
        return True


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Idempotent (every app of a process shares the loggers): one JSON handler on `app`
    at `level`; JSON on the handlers of uvicorn's default logging configuration; and
    uvicorn's lines without query values, whatever the configuration: the filter sits on
    uvicorn's loggers themselves (public `logging` API), so it applies to every handler
    a `--log-config` of one's own may give them."""
    logger = logging.getLogger("app")
    logger.setLevel(level)
    handler = next((h for h in logger.handlers if isinstance(h, _ServerHandler)), None)
    if handler is None:
        handler = _ServerHandler(stream or sys.stderr)
        logger.addHandler(handler)
    for name in _UVICORN_LOGGERS:
        _adopt_uvicorn_defaults(logging.getLogger(name), handler.formatter)
    for name in _QUERY_LOGGERS:
        named = logging.getLogger(name)
        if not any(isinstance(f, MaskQueryValues) for f in named.filters):
            named.addFilter(MaskQueryValues())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's `log_config` for `serve`: its lines as JSON on stderr, as the server's,
    and its access and ASGI trace lines (when switched on) without query values."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"mask_query_values": {"()": MaskQueryValues}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {
                "handlers": ["stderr"], "level": "INFO", "propagate": False, "filters": ["mask_query_values"],
            },
            "uvicorn.asgi": {"filters": ["mask_query_values"]},
        },
    }


class _ServerHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler configure_logging installs. A record logged on a thread that runs an
    asyncio loop is formatted and written with the others of the same loop iteration, by
    a callback the loop runs once the iteration's ready callbacks are done
    (`loop.call_soon`): the line is out before the loop waits for anything again, and a
    burst of requests costs one write. A record logged anywhere else (start-up, another
    thread), or on another loop than the one a write is due on, first writes what waits,
    then itself at once. A line shows its message's arguments as they are when it is
    written; uvicorn's own lines go through their own handler and are written at once."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.setFormatter(JsonFormatter())
        self._waiting: list[logging.LogRecord] = []
        self._due_on: asyncio.AbstractEventLoop | None = None  # the loop the write is due on

    def emit(self, record: logging.LogRecord) -> None:  # called with self.lock held
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if self._waiting and loop is not self._due_on:
            self.flush()  # that loop may stop before it writes them
        if loop is None:
            super().emit(record)
            return
        self._waiting.append(record)
        if len(self._waiting) == 1:
            self._due_on = loop
            loop.call_soon(self.flush)

    def flush(self) -> None:
        with self.lock:  # type: ignore[union-attr]  # created by Handler.__init__
            waiting, self._waiting, self._due_on = self._waiting, [], None
            lines = []
            for record in waiting:
                try:
                    lines.append(self.format(record) + self.terminator)
                except Exception:
                    self.handleError(record)
            if lines:
                try:
                    self.stream.write("".join(lines))
                except Exception:
                    self.handleError(waiting[-1])
            super().flush()


def _adopt_uvicorn_defaults(logger: logging.Logger, formatter: logging.Formatter | None) -> None:
    """The handlers uvicorn's own default configuration installs (`uvicorn --factory`
    without `--log-config`) write with its text formatters: given ours instead."""
    try:
        from uvicorn.logging import ColourizedFormatter
    except ImportError:  # not served by uvicorn
        return
    for handler in logger.handlers:
        if isinstance(handler.formatter, ColourizedFormatter):
            handler.setFormatter(formatter)
