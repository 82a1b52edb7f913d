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
    """Every route of an `APIRouter(route_class=RequestRoute)`. Its endpoint must be
    `async def endpoint(request: Request) -> Response`, and nothing else may be declared
    to run around it (dependencies, a status code): the handler is the endpoint, so FastAPI
    would run none of it. Both are checked when the route is made; a router holding such
    routes is included without dependencies of its own."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        parameters = list(inspect.signature(endpoint, eval_str=True).parameters.values())
        if (
            not inspect.iscoroutinefunction(endpoint)
            or len(parameters) != 1
            or parameters[0].annotation is not Request
        ):
            raise TypeError(f"{endpoint.__qualname__}: a RequestRoute endpoint is `async def f(request: Request)`")
        if kwargs.get("dependencies") or kwargs.get("status_code") is not None:
            raise TypeError(f"{endpoint.__qualname__}: a RequestRoute runs no dependencies and sets no status code")
        super().__init__(path, endpoint, **kwargs)

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint
