"""One JSON log line per request, X-Request-ID, and Prometheus request metrics.

A pure ASGI middleware: it sees every response, including errors rendered by the
handlers. The route is the template (`/user/sessions/{session_id}`), never the raw
path, so metric labels stay bounded and no id leaks into them; the query string is
never logged (logout may carry a token).

It runs on every request, so it is written for speed (bench/README.md): the line is
formatted directly — every field is either a number or text of a known alphabet (the
request id is checked against one, the method is a token, the route one of ours, ids
are ours) — and handed to the logger by `app.logs.log_line`.
"""

from __future__ import annotations

import json
import logging
import random
import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.logs import log_line
from app.metrics import observe_request

log = logging.getLogger("app.access")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = _request_id(scope)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = _route(scope)
            method = scope["method"] if scope["method"] in _METHODS else "OTHER"
            observe_request(method, route, status, duration)
            if log.isEnabledFor(logging.INFO):
                log_line(log, _line(scope["state"], request_id, method, route, status, duration))


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):  # not match(): `$` would let a trailing newline in
                return str(text)
    # Unique, not secret: 128 bits from the process's PRNG (reseeded in each worker), not
    # os.urandom, a syscall that lets go of the GIL on every request (where the refresh
    # profile found the loop waiting to get it back from the SQLite rotation thread).
    return f"{random.getrandbits(128):032x}"


def _route(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return str(path) if path else "unmatched"


def _line(state: dict[str, Any], request_id: str, method: str, route: str, status: int, duration: float) -> str:
    """JSON by hand: see the module docstring for why no value needs escaping. The
    fields after the request id are the same for every request of a route, method and
    status, so they are formatted once per combination (bounded, as the metrics' labels)."""
    fixed = _FIXED.get((method, route, status)) or _fixed(method, route, status)
    line = f'{{"request_id": "{request_id}{fixed}{duration * 1000:.2f}'
    user_id, session_id = state.get("user_id"), state.get("session_id")
    if user_id is None and session_id is None:
        return line + "}"
    if user_id is not None:
        line += f', "user_id": {int(user_id)}'
    if session_id is not None:
        line += f', "session_id": {_quoted(str(session_id))}'
    return line + "}"


_FIXED: dict[tuple[str, str, int], str] = {}


def _fixed(method: str, route: str, status: int) -> str:
    """Route templates are ours; json.dumps keeps the line valid should one ever hold a quote."""
    fixed = _FIXED[(method, route, status)] = (
        f'", "method": "{method}", "route": {_quoted(route)}, "status": {int(status)}, "duration_ms": '
    )
    return fixed


def _quoted(text: str) -> str:
    if text.isalnum() and text.isascii():  # our ids (hex): the common case, without the regex
        return f'"{text}"'
    return f'"{text}"' if _PLAIN.match(text) else json.dumps(text, ensure_ascii=True)


_PLAIN = re.compile(r"^[A-Za-z0-9_./{}:-]*$")
