"""Our dependencies are declared with a scope, so FastAPI reads it instead of working one
out from the callable on every request (app.api.deps, `_SCOPE`): ~3 % of a cached
/protected. A declaration that loses it still works, only slower, so nothing else would
notice."""

from __future__ import annotations

from typing import Any, get_args

from fastapi import params
from fastapi.dependencies.utils import get_dependant

from app.api import deps
from app.api.resource_server import ResourceServer


def _declared(alias: Any) -> params.Depends:
    return next(arg for arg in get_args(alias) if isinstance(arg, params.Depends))


def test_the_aliases_routes_use_declare_a_scope() -> None:
    for alias in (deps.CurrentPrincipal, deps.RefreshToken, deps.ServicesDep, deps.ClockDep):
        assert _declared(alias).scope == "request"


def test_require_scopes_keeps_its_scopes_and_declares_a_scope() -> None:
    declared = deps.require_scopes("orders:read", "orders:write")
    assert isinstance(declared, params.Security)
    assert declared.scope == "request" and list(declared.scopes or []) == ["orders:read", "orders:write"]


def test_sub_dependencies_declare_theirs() -> None:
    """The scheme sub-dependencies, solved on every request too."""
    for call in (deps.refresh_token_required,):
        assert all(sub.scope == "request" for sub in get_dependant(path="/", call=call).dependencies)


def test_the_resource_server_declares_its_scope() -> None:
    """Constructing one fetches nothing (keys are fetched on the first verification)."""
    server = ResourceServer(jwks_url="http://127.0.0.1:9/jwks.json", issuer="http://127.0.0.1:9", audience="api")
    declared = server.require("read")
    assert isinstance(declared, params.Security) and declared.scope == "request"
    assert list(declared.scopes or []) == ["read"]
    assert all(sub.scope == "request" for sub in get_dependant(path="/", call=server.claims).dependencies)


def test_a_users_yield_dependency_can_build_on_them() -> None:
    """FastAPI refuses, when the route is added, a `yield` dependency of the default
    ("request") scope that depends on a "function"-scoped one: ours must not be."""
    from collections.abc import AsyncIterator
    from typing import Annotated

    from fastapi import Depends, FastAPI

    from app.oauth.issuer import Principal

    async def orders_repo(principal: deps.CurrentPrincipal) -> AsyncIterator[int]:
        yield principal.user_id

    async def admin_repo(principal: Annotated[Principal, deps.require_scopes("admin")]) -> AsyncIterator[int]:
        yield principal.user_id

    async def per_call(services: deps.ServicesDep, clock: deps.ClockDep, token: deps.RefreshToken) -> AsyncIterator[str]:
        yield token

    async def route(a: Annotated[int, Depends(orders_repo)], b: Annotated[int, Depends(admin_repo)],
                    c: Annotated[str, Depends(per_call, scope="function")]) -> None:
        return None

    app = FastAPI()
    app.get("/orders")(route)  # raised DependencyScopeError with scope="function" on ours
    assert any(getattr(r, "path", None) == "/orders" for r in app.routes)
