"""Bodies are small in this API; a large one is refused before it is read into memory.

Enforced by the request middleware (app.api.observability.RequestLog) in the same pass
over the headers as its own: a middleware layer of its own would cost every request,
bodiless GETs included."""

from __future__ import annotations

import json

from starlette.types import Message, Receive, Send

from app.errors import RequestTooLarge

MAX_BODY_BYTES = 64 * 1024


def declared_too_large(content_length: bytes, max_bytes: int) -> bool:
    """A Content-Length over the limit, or not a number: refused before anything is read."""
    try:
        return int(content_length) > max_bytes
    except ValueError:
        return True


def counting(receive: Receive, max_bytes: int) -> Receive:
    """`receive`, refusing a body that grows past the limit as it is read: a chunked body
    over HTTP/1.1, or an HTTP/2 body, need not declare its length up front."""
    seen = 0

    async def counting_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > max_bytes:
                # Raised inside the app's body read, so the OAuthError handler renders it.
                raise RequestTooLarge()
        return message

    return counting_receive


async def reject(send: Send) -> None:
    body = json.dumps(
        {"error": "invalid_request", "error_description": "The request body is too large."}
    ).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
