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
        assert _declared(alias).scope == "function"


def test_require_scopes_keeps_its_scopes_and_declares_a_scope() -> None:
    declared = deps.require_scopes("orders:read", "orders:write")
    assert isinstance(declared, params.Security)
    assert declared.scope == "function" and list(declared.scopes or []) == ["orders:read", "orders:write"]


def test_sub_dependencies_declare_theirs() -> None:
    """The scheme sub-dependencies, solved on every request too."""
    for call in (deps.refresh_token_required,):
        assert all(sub.scope == "function" for sub in get_dependant(path="/", call=call).dependencies)


def test_the_resource_server_declares_its_scope() -> None:
    """Constructing one fetches nothing (keys are fetched on the first verification)."""
    server = ResourceServer(jwks_url="http://127.0.0.1:9/jwks.json", issuer="http://127.0.0.1:9", audience="api")
    declared = server.require("read")
    assert isinstance(declared, params.Security) and declared.scope == "function"
    assert list(declared.scopes or []) == ["read"]
    assert all(sub.scope == "function" for sub in get_dependant(path="/", call=server.claims).dependencies)
