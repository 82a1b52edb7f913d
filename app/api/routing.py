"""`PlannedRoute`: a route whose dependencies are solved by a plan made once, when the
route is built, instead of by FastAPI's general solver on every request.

FastAPI solves a route's dependencies afresh for every request. For the route and for
each dependency it classifies the callable, parses the query string and cookies, builds
a cache key, a scratch Response and a SecurityScopes, whether or not anything needs
them. In CPU instructions (bench/instructions.py): a no-op dependency adds ~38,000 to a
bare route's ~358,000, and our /protected executed 380,000 solved by FastAPI against
228,000 planned (bench/README.md, thirteenth session). A route whose endpoint and
dependencies take nothing from the request but the request itself (and, for a security
dependency, its scopes) does the same thing on every request: these calls, with these
arguments, in this order. /protected with `access_token_required` is one, and so is any
route of a service protected by it. The plan is worked out once from the dependant
FastAPI built; the request then costs the calls themselves.

Everything else stays FastAPI's, so no behaviour differs: a route of any other shape, a
FastAPI whose dependency model is not the one checked here (0.16x's, field for field), a
dependency override in place (as tests set them), FastAPI's own telemetry recording the
request — each is served by FastAPI's own handler, chosen when the route is built or per
request.

Use it for a router of your own: `APIRouter(route_class=PlannedRoute)`.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute
from fastapi.security import SecurityScopes
from starlette.responses import StreamingResponse


def _optional(module: str, name: str) -> Any:
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


# FastAPI 0.16x: whether its OpenTelemetry instrumentation records this request
_telemetry_data: Callable[[], object] | None = _optional("fastapi.telemetry", "get_telemetry_data")
# FastAPI 0.16x: a route included through a router is built for an "effective" copy of it
_effective_route: ContextVar[Any] | None = _optional("fastapi.routing", "_effective_route_context_var")

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
# Parameter kinds the plan cannot provide; any one of them in a dependant means FastAPI's
# handler. `dependencies` is absent: a dependency's own sub-dependencies are checked apart.
_PARSED = ("path_params", "query_params", "header_params", "cookie_params", "body_params")
_OTHER_ARGS = ("websocket_param_name", "response_param_name", "background_tasks_param_name")
# FastAPI 0.16x's Dependant, field for field. A FastAPI whose Dependant has other fields
# (a new kind of parameter, say) solves something this module does not know: its
# routes are all FastAPI's.
_DEPENDANT_FIELDS = frozenset({
    *_PARSED, *_OTHER_ARGS, "dependencies", "name", "call", "request_param_name", "http_connection_param_name",
    "security_scopes_param_name", "own_oauth_scopes", "parent_oauth_scopes", "use_cache", "path", "scope",
    "concurrency",
})


@dataclasses.dataclass(frozen=True, slots=True)
class _Step:
    """A call and where its arguments come from: the steps before it (its own
    dependencies, in order), the request, and the scopes FastAPI would give it."""

    name: str | None  # the parameter its value fills; None for `dependencies=[...]`
    call: Callable[..., Awaitable[Any]]
    steps: tuple[_Step, ...]
    request_args: tuple[str, ...]  # a Request or an HTTPConnection parameter: the request
    scopes_arg: str | None
    scopes: tuple[str, ...]

    async def run(self, request: Request) -> Any:
        arguments: dict[str, Any] = {}
        for step in self.steps:
            value = await step.run(request)
            if step.name is not None:
                arguments[step.name] = value
        for name in self.request_args:
            arguments[name] = request
        if self.scopes_arg is not None:  # a new one per call, as FastAPI gives
            arguments[self.scopes_arg] = SecurityScopes(scopes=list(self.scopes))
        return await self.call(**arguments)


class PlannedRoute(APIRoute):
    planned = False  # whether the last handler built for it follows a plan (tests, tools)

    def get_route_handler(self) -> Handler:
        solved_by_fastapi = super().get_route_handler()
        route = self
        context = _effective_route.get() if _effective_route is not None else None
        if context is not None and getattr(context, "original_route", None) is self:
            route = context  # the copy FastAPI builds this handler for (an included router)
        plan = _plan(route, solved_by_fastapi)
        self.planned = plan is not None
        if plan is None:
            return solved_by_fastapi
        provider = getattr(route, "dependency_overrides_provider", None)

        async def planned(request: Request) -> Response:
            if (provider is not None and provider.dependency_overrides) or (
                _telemetry_data is not None and _telemetry_data() is not None
            ):
                return await solved_by_fastapi(request)
            response = await plan.run(request)
            if not isinstance(response, Response):  # the plan was made for its annotation
                name = getattr(plan.call, "__qualname__", repr(plan.call))
                raise TypeError(f"{name} is annotated to return a Response but returned {type(response).__name__}")
            return response

        return planned


def _plan(route: Any, solved_by_fastapi: Handler) -> _Step | None:
    """The endpoint's step, for a route FastAPI would solve to exactly these calls. The
    plan is made once: an integration that changes `route.dependant` afterwards must
    rebuild the route's handler, as it must for FastAPI's own."""
    dependant: Any = getattr(route, "dependant", None)
    endpoint = getattr(route, "endpoint", None)
    if _fields(dependant) != _DEPENDANT_FIELDS or not _handles(solved_by_fastapi, dependant):
        return None
    if dependant.call is not endpoint or not _returns_response(endpoint) or _streams(route):
        return None
    return _step(dependant, [])


def _handles(handler: Handler, dependant: object) -> bool:
    """Whether FastAPI's handler was built for this very dependant: it keeps it in its
    closure (0.16x). Otherwise the route may have been copied in a way this module does
    not see (an inclusion's own dependencies, say), and it is not planned."""
    for cell in getattr(handler, "__closure__", None) or ():
        try:
            if cell.cell_contents is dependant:
                return True
        except ValueError:  # an empty cell
            continue
    return False


def _streams(route: Any) -> bool:
    """FastAPI streams what such a route's endpoint gives (server-sent events) instead of
    awaiting it: not planned."""
    response_class = getattr(route, "response_class", None)
    response_class = getattr(response_class, "value", response_class)  # FastAPI's Default(...)
    streaming = inspect.isclass(response_class) and issubclass(response_class, StreamingResponse)
    return streaming or bool(getattr(route, "is_sse_stream", False) or getattr(route, "is_json_stream", False))


def _fields(dependant: object) -> frozenset[str]:
    if not dataclasses.is_dataclass(dependant):
        return frozenset()
    return frozenset(field.name for field in dataclasses.fields(dependant))


def _step(dependant: Any, seen: list[Any]) -> _Step | None:
    call = dependant.call
    if _needs_more(dependant) or dependant.concurrency is not None or not _is_async_function(call):
        return None  # something to parse or validate; a sync call runs in a thread
    try:
        hash(call)  # FastAPI's per-request cache keys on it: an unhashable call fails there
        if any(call == other for other in seen):
            return None  # met twice (equal: two bound methods of one object): FastAPI's cache decides
    except Exception:  # noqa: BLE001 - an unhashable or uncomparable callable: FastAPI's
        return None
    seen.append(call)
    steps = []
    for sub in dependant.dependencies:
        step = _step(sub, seen)
        if step is None:
            return None
        steps.append(step)
    scopes = list(dependant.parent_oauth_scopes or [])
    for scope in dependant.own_oauth_scopes or []:
        if scope not in scopes:  # as FastAPI's _get_oauth_scopes does
            scopes.append(scope)
    request_args = tuple(
        name for name in (dependant.http_connection_param_name, dependant.request_param_name) if name is not None
    )
    return _Step(dependant.name, call, tuple(steps), request_args, dependant.security_scopes_param_name,
                 tuple(scopes))


def _needs_more(dependant: Any) -> bool:
    return any(getattr(dependant, name) for name in _PARSED) or any(
        getattr(dependant, name) is not None for name in _OTHER_ARGS
    )


def _is_async_function(call: Any) -> bool:
    """A coroutine function, or an instance whose __call__ is one (a security scheme),
    and so is what it wraps: FastAPI classifies a callable by what it wraps as well, and
    would solve an async wrapper of a generator as a generator. Anything else (a class, a
    sync or generator callable) is not planned."""
    if inspect.isclass(call) or (not inspect.isroutine(call) and inspect.unwrap(call) is not call):
        return False  # an instance wrapping something else: FastAPI classifies by that
    function = call if inspect.isroutine(call) else getattr(type(call), "__call__", None)
    return inspect.iscoroutinefunction(function) and inspect.iscoroutinefunction(inspect.unwrap(function))


def _returns_response(endpoint: Callable[..., Any]) -> bool:
    """Annotated to return a Response: FastAPI hands those on untouched, where any other
    value is validated and serialised (not planned)."""
    try:
        annotation = inspect.signature(endpoint, eval_str=True).return_annotation
    except Exception:  # noqa: BLE001 - an annotation that does not resolve: not planned
        return False
    return inspect.isclass(annotation) and issubclass(annotation, Response)
