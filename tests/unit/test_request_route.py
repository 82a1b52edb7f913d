"""RequestRoute: FastAPI's documented route-handler hook hands the request straight to
an endpoint that reads it itself; the route keeps FastAPI's path matching, exception
handlers and OpenAPI operation."""

from __future__ import annotations

import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response

from app.api.request_route import RequestRoute


def test_an_endpoint_with_parameters_of_its_own_or_anything_to_run_around_it_is_refused() -> None:
    """FastAPI would run none of it: the route's handler is the endpoint."""
    router = APIRouter(route_class=RequestRoute)

    async def takes_a_query(request: Request, q: str) -> Response:
        return Response()

    async def not_a_request(item: str) -> Response:
        return Response()

    def not_async(request: Request) -> Response:
        return Response()

    async def fine(request: Request) -> Response:
        return Response()

    for endpoint in (takes_a_query, not_a_request, not_async):
        with pytest.raises(TypeError, match="RequestRoute endpoint"):
            router.add_api_route("/x", endpoint)
    for declared in ({"dependencies": [Depends(lambda: None)]}, {"status_code": 201}):
        with pytest.raises(TypeError, match="no dependencies"):
            router.add_api_route("/x", fine, **declared)
    with pytest.raises(TypeError, match="no dependencies"):
        APIRouter(route_class=RequestRoute, dependencies=[Depends(lambda: None)]).add_api_route("/x", fine)


async def test_the_endpoint_gets_the_request_and_its_errors_reach_the_apps_handlers() -> None:
    router = APIRouter(route_class=RequestRoute)

    @router.get("/items/{item}", response_model=dict[str, str], openapi_extra={"security": [{"Bearer": []}]})
    async def item(request: Request) -> Response:
        if request.path_params["item"] == "missing":
            raise HTTPException(404, "no such item")
        return Response(request.path_params["item"] + "?" + request.url.query)

    app = FastAPI()
    app.include_router(router)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        found = await client.get("/items/a", params={"q": "1"})
        missing = await client.get("/items/missing")
    assert (found.status_code, found.text) == (200, "a?q=1")
    assert (missing.status_code, missing.json()) == (404, {"detail": "no such item"})
    operation = app.openapi()["paths"]["/items/{item}"]["get"]
    assert operation["security"] == [{"Bearer": []}]
    assert operation["responses"]["200"]["content"]["application/json"]["schema"]["type"] == "object"
