"""`RequestRoute`: a FastAPI route whose endpoint takes the `Request` alone and returns a
`Response`, called with nothing in between.

FastAPI's documented extension point for this is `APIRoute.get_route_handler` (the
"custom APIRoute class" recipe): the handler it returns gets each request. FastAPI's own
handler solves the endpoint's dependencies; an endpoint with none still pays for it on
every request (query parameters, cookies and a response are prepared for it). The hot
routes read what they need from the request themselves, so this route hands the request
straight to them. Everything else stays FastAPI's: path matching, the OpenAPI operation
(made from the endpoint, `response_model` and `openapi_extra`), the exception handlers
and the body-size limit around the handler.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute


class RequestRoute(APIRoute):
    """Every route of an `APIRouter(route_class=RequestRoute)`: its endpoint must be
    `async def endpoint(request: Request) -> Response`, which is checked when the route
    is made."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        parameters = list(inspect.signature(endpoint).parameters.values())
        if len(parameters) != 1 or not inspect.iscoroutinefunction(endpoint):
            raise TypeError(f"{endpoint.__qualname__}: a RequestRoute endpoint is `async def f(request: Request)`")
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint
