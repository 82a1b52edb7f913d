"""One JSON log line per request, X-Request-ID, and Prometheus request metrics.

A pure ASGI middleware: it sees every response, including errors rendered by the
handlers, and costs one clock read and a dict per request. The route is the template
(`/user/sessions/{session_id}`), never the raw path, so metric labels stay bounded and
no id leaks into them; the query string is never logged (logout may carry a token).
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.metrics import observe_request

log = logging.getLogger("app.access")
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


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
            observe_request(scope["method"], route, status, duration)
            if log.isEnabledFor(logging.INFO):
                log.info(json.dumps(_line(scope, request_id, route, status, duration), ensure_ascii=True))


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.match(text):
                return str(text)
    return str(uuid.uuid4().hex)


def _route(scope: Scope) -> str:
    path = getattr(scope.get("route"), "path", None)
    return str(path) if path else "unmatched"


def _line(scope: Scope, request_id: str, route: str, status: int, duration: float) -> dict[str, Any]:
    state = scope.get("state", {})
    line: dict[str, Any] = {
        "request_id": request_id,
        "method": scope["method"],
        "route": route,
        "status": status,
        "duration_ms": round(duration * 1000, 2),
    }
    for key in ("user_id", "session_id"):
        if state.get(key) is not None:
            line[key] = state[key]
    return line
