"""PlannedRoute (app/api/routing.py): a route whose dependencies need nothing parsed is
solved by a plan made once, and answers exactly as FastAPI's own solving would; any
other shape, a dependency override or FastAPI's telemetry gets FastAPI's handler."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

import fastapi.routing
import httpx
import pytest
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, Security
from fastapi.responses import JSONResponse
from fastapi.security import SecurityScopes
from fastapi.sse import EventSourceResponse
from starlette.requests import HTTPConnection

from app.api import routing
from app.api.routing import PlannedRoute
from app.main import create_app
from app.settings import Settings

calls: list[str] = []


async def caller(request: Request) -> str:
    calls.append("caller")
    name = request.headers.get("x-caller")
    if name is None:
        raise HTTPException(401, "who?", headers={"WWW-Authenticate": "Bearer"})
    return name


async def granted(security_scopes: SecurityScopes, request: Request) -> list[str]:
    security_scopes.scopes.append("mutated")  # each request gets a list of its own, as FastAPI gives
    return [*security_scopes.scopes, security_scopes.scope_str, request.url.path]


class Scheme:
    """An instance whose __call__ is a coroutine, taking the connection: how FastAPI's
    security schemes are written."""

    async def __call__(self, connection: HTTPConnection) -> str:
        calls.append("scheme")
        return str(connection.scope["method"])


scheme = Scheme()


async def bearer_of(name: Annotated[str, Depends(caller)], method: Annotated[str, Depends(scheme)]) -> str:
    return f"{method} {name}"


class Counter:
    """`counter.hit` twice is two equal bound methods: FastAPI calls it once a request."""

    def __init__(self) -> None:
        self.calls = 0

    async def hit(self, request: Request) -> int:
        self.calls += 1
        return self.calls


async def marks(request: Request) -> None:
    calls.append(f"mark {request.url.path}")


def shapes(router: APIRouter) -> None:
    """The same endpoints for a planned router and a plain one."""

    @router.get("/caller", dependencies=[Depends(marks)])
    async def who(name: Annotated[str, Depends(caller)], method: Annotated[str, Depends(scheme)],
                  request: Request) -> Response:
        return JSONResponse({"name": name, "method": method, "path": request.url.path})

    @router.get("/scoped")
    async def scoped(scopes: Annotated[list[str], Security(granted, scopes=["a", "b", "a"])]) -> JSONResponse:
        return JSONResponse({"scopes": scopes}, status_code=203, headers={"x-kept": "1"})

    @router.get("/nested")
    async def nested_ok(bearer: Annotated[str, Depends(bearer_of)]) -> Response:
        return JSONResponse({"bearer": bearer})

    counter = Counter()  # one per router

    async def bound(value: int) -> Response:
        return JSONResponse({"value": value, "calls": counter.calls})

    # set here: a string annotation (this module's `annotations` import) cannot name `counter`
    bound.__annotations__ = {"value": Annotated[int, Depends(counter.hit)], "return": Response}
    router.get("/bound", dependencies=[Depends(counter.hit)])(bound)

    @router.get("/fails")
    async def fails(name: Annotated[str, Depends(caller)]) -> Response:
        raise HTTPException(409, f"no {name}")


def pair() -> FastAPI:
    app = FastAPI()
    planned, plain = APIRouter(prefix="/planned", route_class=PlannedRoute), APIRouter(prefix="/plain")
    shapes(planned)
    shapes(plain)
    app.include_router(planned)
    app.include_router(plain)
    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")


@pytest.fixture(autouse=True)
def _fresh_calls() -> None:
    calls.clear()


@pytest.fixture
def solved(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The paths FastAPI's own handler solved (its solve_dependencies, counted)."""
    paths: list[str] = []
    real = fastapi.routing.solve_dependencies

    async def counting(**kwargs: Any) -> Any:
        paths.append(kwargs["request"].url.path)
        return await real(**kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    return paths


@pytest.mark.parametrize(("path", "headers"), [
    ("/caller", {"x-caller": "ann"}), ("/caller", {}), ("/scoped", {}), ("/fails", {"x-caller": "bob"}),
    ("/nested", {"x-caller": "cy"}), ("/nested", {}), ("/bound", {}),
])
async def test_answers_as_fastapi_solving_does(path: str, headers: dict[str, str], solved: list[str]) -> None:
    app = pair()
    async with client(app) as http:
        ours = await http.get(f"/planned{path}", headers=headers)
        theirs = await http.get(f"/plain{path}", headers=headers)
    assert (ours.status_code, ours.headers.get("www-authenticate"), ours.headers.get("x-kept")) == (
        theirs.status_code, theirs.headers.get("www-authenticate"), theirs.headers.get("x-kept"))
    assert ours.text.replace("/planned", "/plain") == theirs.text  # the body names its path
    assert ours.status_code in (200, 203, 401, 409)
    if path == "/bound":  # a call met twice is left to FastAPI's cache
        assert solved == [f"/planned{path}", f"/plain{path}"]
    else:
        assert solved == [f"/plain{path}"]  # the planned route never reached FastAPI's solving


async def test_the_planned_routes_run_every_dependency_once_in_order() -> None:
    app = pair()
    async with client(app) as http:
        assert (await http.get("/planned/caller", headers={"x-caller": "ann"})).json() == {
            "name": "ann", "method": "GET", "path": "/planned/caller"}
        planned_order = calls[:]
        calls.clear()
        await http.get("/plain/caller", headers={"x-caller": "ann"})
        scoped = (await http.get("/planned/scoped")).json()
        again = (await http.get("/planned/scoped")).json()
    # the route's `dependencies=[...]` first, then the parameters', each once: FastAPI's order
    assert planned_order == ["mark /planned/caller", "caller", "scheme"]
    assert calls == ["mark /plain/caller", "caller", "scheme"]
    assert scoped == again == {"scopes": ["a", "b", "mutated", "a b", "/planned/scoped"]}


def test_the_server_plans_its_hot_paths(settings: Settings) -> None:
    app = create_app(settings)
    planned = {getattr(r, "path", None) for r in app.router.routes if getattr(r, "planned", False)}
    assert {"/protected", "/user/oauth/token", "/refresh", "/login", "/.well-known/jwks.json"} <= planned
    assert not {"/user/me", "/user/_logout", "/user/sessions"} & planned  # other shapes: FastAPI's


async def letter(request: Request) -> str:
    return "x"


def plain_sync(request: Request) -> str:
    return "sync"


async def generator(request: Request) -> AsyncIterator[str]:
    calls.append("enter")
    yield "gen"
    calls.append("exit")


async def nested(value: Annotated[str, Depends(plain_sync)]) -> str:
    return value


def _not_planned_shapes() -> list[tuple[str, Callable[..., Any]]]:
    async def query(q: str) -> Response:
        return Response(q)

    async def sync_dep(v: Annotated[str, Depends(plain_sync)]) -> Response:
        return Response(v)

    async def gen_dep(v: Annotated[str, Depends(generator)]) -> Response:
        return Response(v)

    async def sub_dep(v: Annotated[str, Depends(nested)]) -> Response:
        return Response(v)

    async def model() -> dict[str, str]:
        return {"v": "model"}

    async def twice(a: Annotated[str, Depends(letter)], b: Annotated[str, Depends(letter)]) -> Response:
        return Response(a + b)

    async def response_param(response: Response) -> Response:
        return Response("r")

    def sync_endpoint() -> Response:
        return Response("s")

    return [("query?q=q", query), ("sync_dep", sync_dep), ("gen_dep", gen_dep), ("sub_dep", sub_dep),
            ("model", model), ("twice", twice), ("response_param", response_param), ("sync_endpoint", sync_endpoint)]


async def test_other_shapes_are_solved_by_fastapi(solved: list[str]) -> None:
    router = APIRouter(route_class=PlannedRoute)
    for path, endpoint in _not_planned_shapes():
        router.get("/" + path.split("?")[0])(endpoint)
    app = FastAPI()
    app.include_router(router)
    async with client(app) as http:
        bodies = [(await http.get("/" + path)).text for path, _ in _not_planned_shapes()]
    assert bodies == ["q", "sync", "gen", "sync", '{"v":"model"}', "xx", "r", "s"]
    assert calls == ["enter", "exit"]  # the generator's exit ran: FastAPI's own handling
    assert solved == ["/" + path.split("?")[0] for path, _ in _not_planned_shapes()]


async def test_a_dependency_override_is_honoured(solved: list[str]) -> None:
    """Set as tests set them: while it is in place, FastAPI's handler serves the route."""
    app = pair()

    async def stand_in() -> str:
        return "stand-in"

    async with client(app) as http:
        app.dependency_overrides[caller] = stand_in
        overridden = (await http.get("/planned/caller")).json()
        app.dependency_overrides.clear()
        restored = await http.get("/planned/caller")
    assert overridden["name"] == "stand-in"
    assert restored.status_code == 401
    assert solved == ["/planned/caller"]  # the overridden request only


async def test_dependencies_of_an_inclusion_run() -> None:
    router = APIRouter(route_class=PlannedRoute)

    @router.get("/x")
    async def x(method: Annotated[str, Depends(scheme)]) -> Response:
        return Response(method)

    app = FastAPI()
    app.include_router(router, prefix="/with", dependencies=[Depends(marks)])
    async with client(app) as http:
        assert (await http.get("/with/x")).text == "GET"
    assert calls == ["mark /with/x", "scheme"]  # the inclusion's dependency first


async def test_recorded_telemetry_gets_fastapis_handler(monkeypatch: pytest.MonkeyPatch, solved: list[str]) -> None:
    """Where FastAPI's instrumentation records the request, its handler runs (with its
    spans: test_telemetry has them from a real provider)."""
    app = pair()
    async with client(app) as http:
        await http.get("/planned/caller", headers={"x-caller": "a"})
        assert solved == []
        monkeypatch.setattr(routing, "_telemetry_data", lambda: object())
        assert (await http.get("/planned/caller", headers={"x-caller": "a"})).json()["name"] == "a"
    assert solved == ["/planned/caller"]


def test_the_openapi_document_is_fastapis() -> None:
    paths = pair().openapi()["paths"]
    for path in ("/caller", "/scoped", "/nested", "/bound", "/fails"):
        ours, theirs = paths[f"/planned{path}"]["get"], paths[f"/plain{path}"]["get"]
        assert ours.pop("operationId") != theirs.pop("operationId")  # it names the path
        assert ours == theirs


async def test_another_fastapis_dependency_model_gets_fastapis_handler(
    monkeypatch: pytest.MonkeyPatch, solved: list[str]
) -> None:
    """A Dependant with fields this module does not know (a FastAPI that solves something
    new): routes built then are not planned."""
    monkeypatch.setattr(routing, "_DEPENDANT_FIELDS", routing._DEPENDANT_FIELDS - {"concurrency"})
    async with client(pair()) as http:
        assert (await http.get("/planned/caller", headers={"x-caller": "a"})).json()["name"] == "a"
    assert solved == ["/planned/caller"]


@dataclasses.dataclass
class Unhashable:
    """A dataclass with eq and no frozen: unhashable, which FastAPI's cache cannot key on."""

    label: str

    async def __call__(self, request: Request) -> str:
        return self.label


def test_shapes_fastapi_treats_apart_are_not_planned() -> None:
    router = APIRouter(route_class=PlannedRoute)

    @router.get("/unhashable")
    async def unhashable(v: Annotated[str, Depends(Unhashable("u"))]) -> Response:
        return Response(v)

    @router.get("/events", response_class=EventSourceResponse)
    async def events(method: Annotated[str, Depends(scheme)]) -> Response:
        return Response(method)

    @router.get("/fine")
    async def fine(method: Annotated[str, Depends(scheme)]) -> Response:
        return Response(method)

    assert [getattr(route, "planned", None) for route in router.routes] == [False, False, True]


async def test_an_inclusion_it_cannot_see_is_not_planned(monkeypatch: pytest.MonkeyPatch, solved: list[str]) -> None:
    """Without FastAPI's record of which copy of an included route it builds, the plan
    would miss the inclusion's own dependencies: FastAPI's handler serves it instead."""
    monkeypatch.setattr(routing, "_effective_route", None)
    await test_dependencies_of_an_inclusion_run()
    assert solved == ["/with/x"]
