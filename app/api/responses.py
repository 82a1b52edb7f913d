"""JSON responses of the hot paths, without Starlette's per-call costs.

`JSONResponse(content)` builds a new `json.JSONEncoder` for every body (its non-default
arguments miss `json.dumps`'s shared encoder) and its headers from a mapping each
time, a visible share of a cached /protected. The bytes these write are exactly
JSONResponse's."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from starlette.responses import Response

_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":"))
_CONTENT_TYPE = (b"content-type", b"application/json")


class Rendered(Response):
    """A 200 JSON response from a body and headers made before (`render`); a new header
    list each time, so a middleware that edits one response's headers edits no other's.
    Returned by routes, not a `response_class` (FastAPI would construct it as
    JSONResponse is constructed)."""

    media_type = "application/json"

    def __init__(self, body: bytes, raw_headers: Iterable[tuple[bytes, bytes]]) -> None:
        self.status_code = 200
        self.body = body
        self.background = None
        self.raw_headers = list(raw_headers)


def json_response(content: Any, headers: tuple[tuple[bytes, bytes], ...] = ()) -> Rendered:
    """A 200 JSON response of `content`, with these extra headers (lower-case, as
    `raw_headers` tuples, e.g. `header_tuples(NO_STORE)`)."""
    return Rendered(*render(content, headers))


def render(content: Any, headers: tuple[tuple[bytes, bytes], ...] = ()) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """The body and headers JSONResponse(content, headers=…) sends. `headers` holds no
    content-length or content-type: this adds both (JSONResponse would skip its own)."""
    body = _ENCODER.encode(content).encode("utf-8")
    return body, [*headers, (b"content-length", str(len(body)).encode()), _CONTENT_TYPE]


def header_tuples(headers: Mapping[str, str]) -> tuple[tuple[bytes, bytes], ...]:
    return tuple((k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items())
