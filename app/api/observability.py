"""One JSON log line per request, X-Request-ID, Prometheus request metrics, and the
body-size limit (app.api.limits).

A pure ASGI middleware: it sees every response, including errors rendered by the
handlers. The route is the template (`/user/sessions/{session_id}`), never the raw
path, so metric labels stay bounded and no id leaks into them; the query string is
never logged (logout may carry a token).

It runs on every request, so it is written for speed (bench/README.md): one layer and
one pass over the headers for all of it; the line is formatted directly — every field
is either a number or text of a known alphabet (the request id is checked against one,
the method is a token, the route one of ours, ids are ours) — and handed to the logger
by `app.logs.write_lines`.

A finished request is counted and logged at the end of the event-loop iteration it
finished in, together with the others of that iteration (`drain_finished`), not in the
middle of its own code: the same work done in one pass cost a cached /protected ~5 %
less CPU when served (bench/README.md, tenth session), though it runs the same
instructions. Nothing waits on it: the response is sent first either way. /metrics
drains before it renders; so does the process at exit.
"""

from __future__ import annotations

import atexit
import contextvars
import json
import logging
import random
import re
import time
from collections import deque
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.iteration import AtIterationEnd
from app.api.limits import MAX_BODY_BYTES, counting, declared_too_large, reject
from app.logs import as_records, write_lines
from app.metrics import Series, observe_request

log = logging.getLogger("app.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_perf_counter = time.perf_counter


class RequestLog:
    """The request edge: every HTTP request passes here once. The JSON line, metrics and
    X-Request-ID, and the body-size limit (413 before the app reads a byte): one layer,
    because each ASGI layer costs every request (bench/README.md). Removing this
    middleware removes the limit too."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = _perf_counter()
        given: bytes | None = None
        too_large = False
        for name, value in scope["headers"]:
            if name == b"x-request-id" and given is None:  # the first, should there be several
                given = value
            elif name == b"content-length" and declared_too_large(value, self.max_body_bytes):
                too_large = True
        request_id = _given(given) if given is not None else _new_id()
        header = (b"x-request-id", request_id.encode())
        state = scope.get("state")
        if state is None:  # uvicorn passes one (its lifespan state); other servers may not
            state = scope["state"] = {}
        state["request_id"] = request_id
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                # Edited in place, for speed: ASGI senders make a new message per call. The
                # header list is new: the response's own may be sent again (Starlette's CORS
                # middleware does both the same way).
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        try:
            if too_large:
                await reject(send_with_id)
            else:
                await self.app(scope, counting(receive, self.max_body_bytes), send_with_id)
        finally:
            duration = _perf_counter() - started
            method = scope["method"]
            series = (
                method if method in _METHODS else "OTHER",
                getattr(scope.get("route"), "path", None) or "unmatched",
                status,
            )
            _finish((series, duration, request_id, state, _copy_context() if _records[0] else None))


# a request's labels, duration, id, state, and its context where a handler or filter of the
# user's gets the line as a record: it reads the request's context variables, as before
Finished = tuple[Series, float, str, dict[str, Any], contextvars.Context | None]
# Whether lines go out as records (anything but our own handler alone), as the last drain
# found: only then is each request's context kept (~4k instructions a request). A logging
# set-up changed mid-iteration is seen from that iteration's drain on.
_records = [True]
_finished: deque[Finished] = deque()  # thread-safe appends and pops: loops may run in several threads
_copy_context = contextvars.copy_context


def _finish(request: Finished) -> None:
    _finished.append(request)
    _drain.ask()


def drain_finished() -> None:
    """Count and log every request finished so far: at the end of their loop iteration,
    before /metrics renders, and at exit (atexit runs it before logging's own flush)."""
    _records[0] = log.isEnabledFor(logging.INFO) and as_records(log)
    pop, done = _finished.popleft, []
    try:
        for _ in range(len(_finished)):  # what other threads add meanwhile waits for the next drain
            done.append(pop())
    except IndexError:  # a drain in another thread took the rest
        pass
    if not done:
        return
    for series, duration, *_ in done:
        observe_request(series, duration)
    if log.isEnabledFor(logging.INFO):
        lines, contexts = [], []
        for series, duration, request_id, state, context in done:
            try:
                lines.append(_line(series, state, request_id, duration))
            except Exception as exc:  # noqa: BLE001 - e.g. a route's own state["user_id"]: costs its line only
                log.warning("request %s: no log line (%s in its fields)", request_id, type(exc).__name__)
                continue
            contexts.append(context)
        if lines:
            write_lines(log, lines, contexts)


_drain = AtIterationEnd(drain_finished)
atexit.register(drain_finished)


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})
_getrandbits = random.getrandbits


def _given(value: bytes) -> str:
    text = value.decode("latin-1")
    if _REQUEST_ID.fullmatch(text):  # not match(): `$` would let a trailing newline in
        return text
    return _new_id()


def _new_id() -> str:
    """Unique, not secret: 128 bits from the process's PRNG (reseeded in each worker), not
    os.urandom, a syscall that lets go of the GIL on every request (where the refresh
    profile found the loop waiting to get it back from the SQLite rotation thread).
    bytes.hex() is 2.5× faster than formatting the int as hex."""
    return _getrandbits(128).to_bytes(16, "big").hex()


def _line(series: Series, state: dict[str, Any], request_id: str, duration: float) -> str:
    """JSON by hand: see the module docstring for why no value needs escaping. The fields
    after the request id are the same for every request of a route, method and status,
    and the ids the same for every request of a session, so both are formatted once
    (bounded: the series as the metrics' labels, the ids by _IDS_MAX)."""
    fixed = _FIXED.get(series) or _fixed(series)
    user_id, session_id = state.get("user_id"), state.get("session_id")
    if user_id is None and session_id is None:
        return f'{{"request_id": "{request_id}{fixed}{duration * 1000:.2f}}}'
    if type(user_id) is int and type(session_id) is str:  # what our dependency writes
        ids = _IDS.get((user_id, session_id)) or _cached_ids(user_id, session_id)
    else:
        ids = _ids(user_id, session_id)
    return f'{{"request_id": "{request_id}{fixed}{duration * 1000:.2f}{ids}}}'


_FIXED: dict[Series, str] = {}
_IDS: dict[tuple[int, str], str] = {}
_IDS_MAX = 10_000  # sessions seen in a row; past it the cache starts again (a few MB at most)


def _fixed(series: Series) -> str:
    """Route templates are ours; json.dumps keeps the line valid should one ever hold a quote."""
    method, route, status = series
    fixed = _FIXED[series] = (
        f'", "method": "{method}", "route": {_quoted(route)}, "status": {int(status)}, "duration_ms": '
    )
    return fixed


def _cached_ids(user_id: int, session_id: str) -> str:
    if len(_IDS) >= _IDS_MAX:
        _IDS.clear()
    ids = _IDS[(user_id, session_id)] = _ids(user_id, session_id)
    return ids


def _ids(user_id: Any, session_id: Any) -> str:
    ids = ""
    if user_id is not None:
        ids += f', "user_id": {int(user_id)}'
    if session_id is not None:
        ids += f', "session_id": {_quoted(str(session_id))}'
    return ids


def _quoted(text: str) -> str:
    if text.isalnum() and text.isascii():  # our ids (hex): the common case, without the regex
        return f'"{text}"'
    return f'"{text}"' if _PLAIN.match(text) else json.dumps(text, ensure_ascii=True)


_PLAIN = re.compile(r"^[A-Za-z0-9_./{}:-]*$")
