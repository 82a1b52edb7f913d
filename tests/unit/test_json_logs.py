"""The server's log lines: one JSON object per line with timestamp, level, logger and
message plus the record's structured fields; uvicorn's lines in the same format; and
no query value in uvicorn's access and ASGI trace lines, where /user/_logout may carry a
token."""

from __future__ import annotations

import io
import json
import logging
import logging.config
import sys
from collections.abc import Iterator
from datetime import datetime, timezone

import pytest

from app.logs import JsonFormatter, MaskQueryValues, configure_logging, mask_query, uvicorn_log_config

LOGGERS = ("app", "uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


@pytest.fixture
def restored() -> Iterator[None]:
    """Logging is process-wide: these tests start from loggers without handlers or
    filters (an app built by an earlier test has configured them), and what they change
    is put back afterwards."""
    saved = {
        name: (list(lg.handlers), list(lg.filters), lg.level, lg.propagate, lg.disabled)
        for name in LOGGERS for lg in [logging.getLogger(name)]
    }
    for name in LOGGERS:
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).filters[:] = []
    yield
    for name, (handlers, filters, level, propagate, disabled) in saved.items():
        lg = logging.getLogger(name)
        lg.handlers[:], lg.filters[:] = handlers, filters
        lg.setLevel(level)
        lg.propagate, lg.disabled = propagate, disabled


def record(name: str = "app.access", msg: str = "hello %s", args: tuple[object, ...] = ("you",), **extra: object) -> logging.LogRecord:
    return logging.getLogger(name).makeRecord(name, logging.INFO, __file__, 1, msg, args, None, extra=extra)


def test_a_line_has_the_standard_fields_and_the_records_own() -> None:
    line = JsonFormatter().format(record(request_id="r1", status=200, duration_ms=1.5, user_id=None))
    assert "\n" not in line
    data = json.loads(line)
    assert data == {
        "timestamp": data["timestamp"], "level": "INFO", "logger": "app.access", "message": "hello you",
        "request_id": "r1", "status": 200, "duration_ms": 1.5, "user_id": None,
    }
    stamp = datetime.fromisoformat(data["timestamp"])
    assert stamp.utcoffset() == timezone.utc.utcoffset(None)
    assert abs((datetime.now(timezone.utc) - stamp).total_seconds()) < 60


def test_multi_line_messages_tracebacks_and_odd_values_stay_on_one_line() -> None:
    try:
        raise ValueError("first\nsecond")
    except ValueError:
        failed = logging.getLogger("app.x").makeRecord(
            "app.x", logging.ERROR, __file__, 1, "two\nlines", (), sys.exc_info(), extra={"odd": {1, 2}},
        )
    line = JsonFormatter().format(failed)
    assert "\n" not in line
    data = json.loads(line)
    assert data["level"] == "ERROR" and data["message"] == "two\nlines" and data["odd"] == "{1, 2}"
    assert "ValueError: first\nsecond" in data["exception"]


def test_uvicorns_colour_copy_of_its_message_is_left_out() -> None:
    data = json.loads(JsonFormatter().format(record("uvicorn.error", "Started", (), color_message="\x1b[1mStarted")))
    assert "color_message" not in data and data["message"] == "Started"


ACCESS_FORMAT = '%s - "%s %s HTTP/%s" %d'  # uvicorn's access line


def test_uvicorns_access_lines_keep_query_names_and_lose_their_values() -> None:
    line = record("uvicorn.access", ACCESS_FORMAT, ("127.0.0.1:5000", "POST", "/user/_logout?access_token=SECRET&all=true", "1.1", 200))
    assert MaskQueryValues().filter(line)
    assert line.getMessage() == '127.0.0.1:5000 - "POST /user/_logout?access_token=***&all=*** HTTP/1.1" 200'
    plain = record("uvicorn.access", ACCESS_FORMAT, ("127.0.0.1:5000", "GET", "/healthz", "1.1", 200))
    assert MaskQueryValues().filter(plain) and '"GET /healthz HTTP/1.1"' in plain.getMessage()


@pytest.mark.parametrize("name", ["access_token", "token", "refresh_token", "client_secret", "password", "code", "x"])
def test_every_query_value_is_masked_whatever_its_name(name: str) -> None:
    assert mask_query(f"{name}=SECRET%20VALUE&{name}=again") == f"{name}=***&{name}=***"


def test_a_token_in_a_query_names_place_is_masked_too() -> None:
    jwt_like = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJlLWJ5dGVz"
    assert mask_query(f"{jwt_like}&all") == "***&all"
    assert mask_query(f"{jwt_like}=1") == "***=***"


def test_uvicorns_asgi_trace_lines_lose_the_scopes_query_values() -> None:
    """`--log-level trace` logs each ASGI scope, query string included."""
    scope = {"type": "http", "path": "/user/_logout", "raw_path": b"/user/_logout", "query_string": b"access_token=SECRET"}
    line = record("uvicorn.asgi", "%s [%d] Started scope=%s", ("127.0.0.1:5000 - ASGI", 1, scope))
    assert MaskQueryValues().filter(line)
    assert "SECRET" not in line.getMessage() and "b'access_token=***'" in line.getMessage()
    assert scope["query_string"] == b"access_token=SECRET"  # the request's own scope is untouched


def test_configure_logging_writes_json_once_however_often_it_is_called(restored: None) -> None:
    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    configure_logging("INFO", stream=io.StringIO())  # a second app in the process: nothing added
    logging.getLogger("app.access").info("GET /x 200", extra={"route": "/x"})
    logging.getLogger("app.access").debug("not at INFO")
    [line] = stream.getvalue().splitlines()
    assert json.loads(line)["route"] == "/x" and json.loads(line)["logger"] == "app.access"


def test_uvicorns_default_configuration_is_switched_to_json(restored: None, capsys: pytest.CaptureFixture[str]) -> None:
    """`uvicorn --factory app.main:create_app`: uvicorn configures its loggers with its
    text formatters, then calls create_app."""
    from uvicorn.config import LOGGING_CONFIG

    logging.config.dictConfig(LOGGING_CONFIG)
    configure_logging("INFO", stream=io.StringIO())
    logging.getLogger("uvicorn.error").info("Application startup complete.")
    logging.getLogger("uvicorn.access").info(
        ACCESS_FORMAT, "127.0.0.1:5000", "POST", "/user/_logout?access_token=SECRET", "1.1", 200
    )
    asgi = logging.getLogger("uvicorn.asgi")  # what --log-level trace switches on
    asgi.setLevel(5)
    asgi.log(5, "%s [%d] Started scope=%s", "ASGI", 1, {"query_string": b"access_token=SECRET"})
    out = capsys.readouterr()
    lines = [json.loads(line) for line in (out.out + out.err).splitlines()]
    assert sorted((line["logger"], line["message"]) for line in lines) == [  # uvicorn's streams: stdout, stderr
        ("uvicorn.access", '127.0.0.1:5000 - "POST /user/_logout?access_token=*** HTTP/1.1" 200'),
        ("uvicorn.asgi", "ASGI [1] Started scope={'query_string': b'access_token=***'}"),
        ("uvicorn.error", "Application startup complete."),
    ]


def test_a_logging_configuration_of_ones_own_is_kept_but_loses_query_values(restored: None) -> None:
    mine = io.StringIO()
    handler = logging.StreamHandler(mine)
    handler.setFormatter(logging.Formatter("mine: %(message)s"))
    access = logging.getLogger("uvicorn.access")
    access.handlers[:] = [handler]
    access.propagate = False
    access.setLevel(logging.INFO)
    configure_logging("INFO", stream=io.StringIO())
    access.info(ACCESS_FORMAT, "127.0.0.1:5000", "GET", "/user/_logout?access_token=SECRET", "1.1", 200)
    assert mine.getvalue() == 'mine: 127.0.0.1:5000 - "GET /user/_logout?access_token=*** HTTP/1.1" 200\n'


def test_serves_log_config_writes_uvicorns_lines_as_json(restored: None, capsys: pytest.CaptureFixture[str]) -> None:
    logging.config.dictConfig(uvicorn_log_config())
    logging.getLogger("uvicorn.error").info("Uvicorn running on %s", "http://127.0.0.1:8000")
    logging.getLogger("uvicorn.access").info(ACCESS_FORMAT, "c", "GET", "/user/_logout?access_token=SECRET", "1.1", 200)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(line["logger"], line["level"]) for line in lines] == [("uvicorn.error", "INFO"), ("uvicorn.access", "INFO")]
    assert lines[0]["message"] == "Uvicorn running on http://127.0.0.1:8000"
    assert "SECRET" not in json.dumps(lines)


def test_the_timestamp_is_utc_to_the_millisecond_whatever_the_second_before() -> None:
    formatter = JsonFormatter()
    stamps = []
    for created in (1769860800.123, 1769860800.9999, 1769860801.0):  # 2026-01-31T12:00:00Z and after
        line = record()
        line.created = created
        stamps.append(json.loads(formatter.format(line))["timestamp"])
    assert stamps == ["2026-01-31T12:00:00.123+00:00", "2026-01-31T12:00:00.999+00:00", "2026-01-31T12:00:01.000+00:00"]


def test_log_fields_logs_as_logger_log_would(restored: None) -> None:
    from app.logs import log_fields

    stream = io.StringIO()
    configure_logging("INFO", stream=stream)
    log_fields(logging.getLogger("app.audit"), logging.INFO, "audit %s", ("refreshed",), {"audit": "refreshed"})
    log_fields(logging.getLogger("app.audit"), logging.DEBUG, "below the level", (), {"x": 1})
    [line] = [json.loads(text) for text in stream.getvalue().splitlines()]
    assert line["message"] == "audit refreshed" and line["audit"] == "refreshed" and line["level"] == "INFO"


async def test_lines_logged_in_a_loop_iteration_are_written_together_when_it_ends(restored: None) -> None:
    import asyncio

    class Writes(io.StringIO):
        def __init__(self) -> None:
            super().__init__()
            self.calls = 0

        def write(self, text: str) -> int:
            self.calls += 1
            return super().write(text)

    stream = Writes()
    configure_logging("INFO", stream=stream)
    for n in range(3):
        logging.getLogger("app.access").info("request %d", n)
    assert stream.getvalue() == ""  # not yet: the loop has not finished this iteration
    await asyncio.sleep(0)
    assert [json.loads(text)["message"] for text in stream.getvalue().splitlines()] == ["request 0", "request 1", "request 2"]
    assert stream.calls == 1


def test_fields_keep_the_order_they_were_given_in() -> None:
    names = [f"field_{n}" for n in range(12)]
    data = json.loads(JsonFormatter().format(record("app.access", "hello %s", ("you",), **{name: 1 for name in names})))
    assert list(data)[4:] == names


def test_a_logging_configuration_can_name_the_formatter_class(restored: None) -> None:
    """dictConfig passes a formatter class its format, date format and style."""
    stream = io.StringIO()
    logging.config.dictConfig({
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"json": {"class": "app.logs.JsonFormatter", "format": "%(message)s"}},
        "handlers": {"mine": {"class": "logging.StreamHandler", "formatter": "json", "stream": stream}},
        "loggers": {"app": {"handlers": ["mine"], "level": "INFO"}},
    })
    logging.getLogger("app.x").info("hello")
    assert json.loads(stream.getvalue())["message"] == "hello"


def test_lines_waiting_for_a_loop_that_stopped_are_written_by_the_next_line(restored: None) -> None:
    import asyncio

    stream = io.StringIO()
    configure_logging("INFO", stream=stream)

    async def log(message: str) -> None:
        logging.getLogger("app.x").info(message)

    stopped = asyncio.new_event_loop()
    stopped.call_soon(logging.getLogger("app.x").info, "on a loop that stops at once")
    stopped.call_soon(stopped.stop)  # in the same iteration: the write due next never runs
    stopped.run_forever()
    stopped.close()
    assert stream.getvalue() == ""
    asyncio.run(log("on the next loop"))
    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == [
        "on a loop that stops at once", "on the next loop",
    ]
