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
is left as it is, except that uvicorn's access lines never carry a query string:
/user/_logout may carry a token there.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any, TextIO

# The attributes every LogRecord has; anything else on a record came as `extra=`.
# `color_message` is uvicorn's: its message again, with terminal colours.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime", "color_message", "taskName"}
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (a message or traceback with newlines is
    escaped inside its string)."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
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
        return json.dumps(line, ensure_ascii=True, default=str)


class StripQueryString(logging.Filter):
    """uvicorn's access line names the request's path with its query string
    (`'%s - "%s %s HTTP/%s" %d'`: client, method, path, version, status). The query
    string is cut off: a token sent there (/user/_logout accepts one) must reach no log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str) and "?" in args[2]:
            record.args = (*args[:2], args[2].split("?", 1)[0], *args[3:])
        return True


def configure_logging(level: str, stream: TextIO | None = None) -> None:
    """Idempotent (every app of a process shares the loggers): one JSON handler on `app`
    at `level`; JSON on the handlers of uvicorn's default logging configuration; and
    uvicorn's access lines without their query strings, whatever the configuration."""
    logger = logging.getLogger("app")
    logger.setLevel(level)
    handler = next((h for h in logger.handlers if isinstance(h, _ServerHandler)), None)
    if handler is None:
        handler = _ServerHandler(stream or sys.stderr)
        logger.addHandler(handler)
    for name in _UVICORN_LOGGERS:
        _adopt_uvicorn_defaults(logging.getLogger(name), handler.formatter)
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, StripQueryString) for f in access.filters):
        access.addFilter(StripQueryString())


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's `log_config` for `serve`: its lines as JSON on stderr, as the server's,
    and its access lines (when switched on) without query strings."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"no_query_string": {"()": StripQueryString}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": "INFO", "propagate": False},
            "uvicorn.error": {"level": "INFO"},
            "uvicorn.access": {
                "handlers": ["stderr"], "level": "INFO", "propagate": False, "filters": ["no_query_string"],
            },
        },
    }


class _ServerHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The handler configure_logging installs (a class of its own, to find it again)."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self.setFormatter(JsonFormatter())


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
