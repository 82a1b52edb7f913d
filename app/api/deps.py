"""FastAPI dependencies other routes and services reuse: `access_token_required`,
`require_scopes(...)` and `refresh_token_required` (after the fastjwt style), plus access
to the wiring."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import Depends, Request, params
from fastapi.security import HTTPBearer, OAuth2PasswordBearer, SecurityScopes

from app.clock import Clock
from app.errors import InvalidToken, MissingToken
from app.api.params import bearer_token
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
    # async on purpose: FastAPI runs a plain `def` dependency in a worker thread, a hop
    # that cost ~15 % of a protected request
    return services_of(request)


async def get_clock(request: Request) -> Clock:
    return services_of(request).clock


# Our dependencies are declared with a scope. FastAPI otherwise works one out on every
# request, from the callable (is it a generator?): two cached look-ups through
# Python-level __hash__ and __eq__, ~11,000 CPU instructions per dependency, 3 % of a
# cached /protected (bench/README.md). "request" is the scope FastAPI gives a `yield`
# dependency without one, so any dependency may depend on these ("function" would refuse
# a user's `yield` dependency built on them at start-up). For a dependency without
# `yield` the scope changes nothing else, but FastAPI's per-request cache keys on it: a
# route that also declares a bare `Depends(access_token_required)` has the token checked
# twice (correct, slower).
_SCOPE: Literal["request"] = "request"

ServicesDep = Annotated[Services, Depends(get_services, scope=_SCOPE)]
ClockDep = Annotated[Clock, Depends(get_clock, scope=_SCOPE)]


class AccessTokenRequired(OAuth2PasswordBearer):
    """The dependency is its own security scheme, as FastAPI's OAuth2PasswordBearer is:
    the OpenAPI document of any app that uses it lists the scheme (and, through
    `require_scopes`, the scopes per operation), and FastAPI solves one dependency per
    request instead of a dependency plus a scheme sub-dependency (~15 µs, measured)."""

    async def __call__(  # type: ignore[override]  # a Principal, not the raw header
        self, request: Request, security_scopes: SecurityScopes
    ) -> Principal:
        """Header only: query-string tokens leak into logs and are refused here (RFC 6750
        §5.3). Scopes asked for with `require_scopes` must all be in the token (RFC 6750
        §3.1)."""
        token = bearer_token(request)
        if token is None:
            raise MissingToken()
        if not token:
            raise InvalidToken()
        services = services_of(request)  # not a sub-dependency: this is the hot path
        now = services.clock.now()
        # A token and session seen before are answered without awaiting anything.
        principal = services.issuer.cached_principal(token, now) or await services.issuer.authenticate(token, now)
        # for the request log line; what request.state writes to, without building it
        state = request.scope.setdefault("state", {})
        state["user_id"], state["session_id"] = principal.user_id, principal.session_id
        services.usage.used(principal.session_id, now)
        if security_scopes.scopes:
            check_scopes(security_scopes.scopes, principal.scopes)
        return principal


access_token_required = AccessTokenRequired(
    tokenUrl="user/oauth/token", scheme_name="OAuth2PasswordBearer", auto_error=False
)


def require_scopes(*scopes: str) -> Any:
    """`principal: Annotated[Principal, require_scopes("orders:read")]`: a live session
    whose token carries every scope named, else 403 insufficient_scope. Built on
    FastAPI's Security scopes, so the OpenAPI document lists them per operation.
    `fastapi.Security` cannot set a scope; its class can (see `_SCOPE`)."""
    return params.Security(access_token_required, scopes=list(scopes), scope=_SCOPE)


async def refresh_token_required(
    request: Request,
    _declared: Annotated[object | None, params.Security(refresh_scheme, scope=_SCOPE)] = None,
) -> str:
    token = bearer_token(request)
    if token is None:
        raise MissingToken()
    if not token:
        raise InvalidToken("The refresh token is invalid.")
    return token


CurrentPrincipal = Annotated[Principal, Depends(access_token_required, scope=_SCOPE)]
RefreshToken = Annotated[str, Depends(refresh_token_required, scope=_SCOPE)]
