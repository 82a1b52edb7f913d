"""One JSON log line per request, X-Request-ID, Prometheus request metrics, and the
body-size limit (app.api.limits).

A pure ASGI middleware: it sees every response, including errors rendered by the
handlers. The route is the template (`/user/sessions/{session_id}`), never the raw
path, so metric labels stay bounded and no id leaks into them; the query string is
never logged (logout may carry a token).

When the app has answered, the request is counted (app.metrics) and logged: one record
on `app.access`, its fields as structured fields of the record (request id, method,
route template, status, duration in ms, and the user and session id a protected route
found), written by app.logs.JsonFormatter as one JSON line.

The requests that finish in one iteration of the event loop are counted and logged
together, by a callback the loop runs once that iteration's ready callbacks are done
(`loop.call_soon`), so before the server reads any more input: the logging and metrics
code then runs back to back for all of them instead of once among each request's other
work. Each record is made in its own request's context (`contextvars`), so a filter or
handler that reads a context variable (a correlation or trace id) sees that request's. A
caller that drives the app in its own task (an in-process test client) sees a request's
line and count once it yields to the loop (`await asyncio.sleep(0)`).
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.limits import MAX_BODY_BYTES, counting, declared_too_large, reject
from app.logs import log_fields
from app.metrics import observe_request

log = logging.getLogger("app.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestLog:
    """The request edge: every HTTP request passes here once. The JSON line, metrics and
    X-Request-ID, and the body-size limit (413 before the app reads a byte): one layer,
    because each ASGI layer costs every request. Removing this
    middleware removes the limit too."""

    def __init__(self, app: ASGIApp, max_body_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self._finished: list[tuple[contextvars.Context, _Finished]] = []
        self._due_on: asyncio.AbstractEventLoop | None = None  # the loop the report is due on

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
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
            finished: _Finished = (request_id, scope["method"], scope.get("route"), status, time.perf_counter() - started, state)
            loop = asyncio.get_running_loop()
            if self._finished and loop is not self._due_on:
                self._report_finished()  # that loop may stop before it reports them
            self._finished.append((contextvars.copy_context(), finished))
            if len(self._finished) == 1:
                self._due_on = loop
                loop.call_soon(self._report_finished)

    def _report_finished(self) -> None:
        finished, self._finished, self._due_on = self._finished, [], None
        for context, request in finished:
            try:
                context.run(_report, *request)
            except Exception:  # noqa: BLE001 - one request's report never costs the others theirs
                logging.getLogger("app").exception("could not report a finished request")


_Finished = tuple[str, str, Any, int, float, dict[str, Any]]


def _report(request_id: str, method: str, route_object: Any, status: int, duration: float, state: dict[str, Any]) -> None:
    if method not in _METHODS:
        method = "OTHER"
    route = getattr(route_object, "path", None) or "unmatched"
    observe_request(method, route, status, duration)
    log_fields(log, logging.INFO, "%s %s %s", (method, route, status), _fields(request_id, method, route, status, duration, state))


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def _given(value: bytes) -> str:
    text = value.decode("latin-1")
    if _REQUEST_ID.fullmatch(text):  # not match(): `$` would let a trailing newline in
        return text
    return _new_id()


def _new_id() -> str:
    """Unique, not secret: 128 bits from the process's PRNG (reseeded in each worker)."""
    return random.getrandbits(128).to_bytes(16, "big").hex()


def _fields(
    request_id: str, method: str, route: str, status: int, duration: float, state: dict[str, Any]
) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "request_id": request_id, "method": method, "route": route, "status": status,
        "duration_ms": round(duration * 1000, 2),
    }
    for name in ("user_id", "session_id"):  # what app.api.deps.authenticate found
        if state.get(name) is not None:
            fields[name] = state[name]
    return fields
