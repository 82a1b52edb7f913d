"""FastAPI dependencies other routes and services reuse: `access_token_required`,
`require_scopes(...)` and `refresh_token_required` (after the fastjwt style), plus access
to the wiring.

A route that takes only `request: Request` (a `RequestRoute`, app.api.request_route)
calls `authenticate` or `read_refresh_token` itself and declares its security with
`openapi_extra` (`ACCESS_TOKEN_SECURITY`, `REFRESH_TOKEN_SECURITY`): the same checks and
the same OpenAPI document, without a dependency for FastAPI to solve on every request."""

# No `from __future__ import annotations` in this module: some FastAPI releases (0.115
# among them) cannot resolve the string annotations of a callable instance's `__call__`
# (AccessTokenRequired) and would read `request` as a query parameter.
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Depends, Request, Security
from fastapi.security import HTTPBearer, OAuth2PasswordBearer, SecurityScopes

from app.clock import Clock
from app.errors import InvalidToken, MissingToken
from app.api.params import access_token_of, bearer_token
from app.api.services import Services, services_of
from app.oauth.issuer import Principal
from app.security.jwt import check_scopes

# Declared for the OpenAPI document (the docs' Authorize button); the header is parsed
# below so that every failure gets the RFC 6750 response, not FastAPI's default.
refresh_scheme = HTTPBearer(
    scheme_name="RefreshToken", description="A refresh token as bearer (POST /refresh).",
    auto_error=False,
)


async def get_services(request: Request) -> Services:
    # async: FastAPI runs a plain `def` dependency in a worker thread
    return services_of(request)


async def get_clock(request: Request) -> Clock:
    return services_of(request).clock


ServicesDep = Annotated[Services, Depends(get_services)]
ClockDep = Annotated[Clock, Depends(get_clock)]


async def authenticate(request: Request, scopes: Sequence[str] = ()) -> Principal:
    """The caller of a protected route, from the `Authorization: Bearer` header only:
    query-string tokens leak into logs and are refused here (RFC 6750 §5.3). A token
    without every scope in `scopes` is insufficient_scope (RFC 6750 §3.1). The session
    must be live, so a logout takes effect at once."""
    token = access_token_of(request)
    if token is None:
        raise MissingToken()
    if not token:
        raise InvalidToken()
    services = services_of(request)
    now = services.clock.now()
    # A token and session seen before are answered without awaiting anything.
    principal = services.issuer.cached_principal(token, now) or await services.issuer.authenticate(token, now)
    request.state.user_id, request.state.session_id = principal.user_id, principal.session_id  # the request log's
    services.usage.used(principal.session_id, now)
    if scopes:
        check_scopes(list(scopes), principal.scopes)
    return principal


class AccessTokenRequired(OAuth2PasswordBearer):
    """The dependency is its own security scheme, as FastAPI's OAuth2PasswordBearer is:
    the OpenAPI document of any app that uses it lists the scheme (and, through
    `require_scopes`, the scopes per operation)."""

    async def __call__(  # type: ignore[override]  # a Principal, not the raw header
        self, request: Request, security_scopes: SecurityScopes
    ) -> Principal:
        return await authenticate(request, security_scopes.scopes)


access_token_required = AccessTokenRequired(
    tokenUrl="user/oauth/token", scheme_name="OAuth2PasswordBearer", auto_error=False
)
# `openapi_extra` of a route that calls `authenticate` itself
ACCESS_TOKEN_SECURITY: dict[str, Any] = {"security": [{access_token_required.scheme_name: []}]}


def require_scopes(*scopes: str) -> Any:
    """`principal: Annotated[Principal, require_scopes("orders:read")]`: a live session
    whose token carries every scope named, else 403 insufficient_scope. Built on
    FastAPI's Security scopes, so the OpenAPI document lists them per operation."""
    return Security(access_token_required, scopes=list(scopes))


def read_refresh_token(request: Request) -> str:
    """The refresh token presented as bearer (POST /refresh)."""
    token = bearer_token(request)
    if token is None:
        raise MissingToken()
    if not token:
        raise InvalidToken("The refresh token is invalid.")
    return token


async def refresh_token_required(
    request: Request,
    _declared: Annotated[object | None, Security(refresh_scheme)] = None,
) -> str:
    return read_refresh_token(request)


# `openapi_extra` of a route that calls `read_refresh_token` itself
REFRESH_TOKEN_SECURITY: dict[str, Any] = {"security": [{refresh_scheme.scheme_name: []}]}

CurrentPrincipal = Annotated[Principal, Depends(access_token_required)]
RefreshToken = Annotated[str, Depends(refresh_token_required)]
