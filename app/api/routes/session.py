"""Ending sessions and the routes a session protects."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from app.api.deps import ACCESS_TOKEN_SECURITY, REFRESH_TOKEN_SECURITY, CurrentPrincipal, ServicesDep, authenticate
from app.api.errors import NO_STORE
from app.api.request_route import RequestRoute
from app.api.params import bearer_token, client_ip, read_params
from app.api.responses import Rendered, render
from app.oauth.audit import RequestContext
from app.api.schemas import LogoutResponse, Me, ProtectedResponse, error_responses
from app.errors import InvalidRequest, InvalidToken, MissingToken

router = APIRouter()
hot = APIRouter(route_class=RequestRoute)  # endpoints that read their request themselves


async def _logout_token(request: Request) -> str:
    """RFC 6750 §2: a token comes in exactly one way. The query form is accepted on this
    route only, because the session it names ends with the call (eGov compatibility)."""
    found: list[str] = []
    header = bearer_token(request)
    if header is not None:
        found.append(header)
    query = request.query_params.getlist("access_token")
    if len(query) > 1:
        raise InvalidRequest("access_token is repeated.")
    found.extend(query)
    ctype = request.headers.get("content-type", "")
    if ctype.startswith("application/x-www-form-urlencoded"):
        form = await read_params(request, allow_json=False)
        if "access_token" in form:
            found.append(form["access_token"])
    if not found:
        raise MissingToken()
    if len(found) > 1:
        raise InvalidRequest("Present the token in exactly one way.")
    if not found[0]:
        raise InvalidToken()
    return found[0]


@router.post(
    "/user/_logout",
    tags=["session"],
    response_model=LogoutResponse,
    responses=error_responses(400, 401, 503),
    summary="End the session of the presented access or refresh token",
    # either token as bearer, so the docs send the one Authorize obtained
    openapi_extra={"security": ACCESS_TOKEN_SECURITY["security"] + REFRESH_TOKEN_SECURITY["security"]},
)
async def logout(
    request: Request, services: ServicesDep,
    all: Annotated[bool, Query(description="End every session of the token's user (needs a live access token).")] = False,
) -> JSONResponse:
    token = await _logout_token(request)
    ctx = RequestContext(ip=client_ip(request), user_agent=request.headers.get("user-agent"))
    if all:
        principal = await services.issuer.authenticate(token)
        ended = await services.accounts.end_all_sessions(principal.user_id, ctx)
        return JSONResponse({"logged_out": True, "sessions_ended": ended}, headers=dict(NO_STORE))
    await services.issuer.end_session(token, ctx)
    return JSONResponse({"logged_out": True}, headers=dict(NO_STORE))


@hot.get(
    "/protected", tags=["session"], response_model=ProtectedResponse, responses=error_responses(401, 503),
    openapi_extra=ACCESS_TOKEN_SECURITY,
)
async def protected(request: Request) -> Response:
    # A hot path: a RequestRoute, so FastAPI solves no dependency; `openapi_extra`
    # declares the security that `CurrentPrincipal` would. The same answer on every call
    # of a session: rendered once (app.api.responses). FastAPI would validate and
    # re-serialise a ProtectedResponse; response_model above still documents the shape.
    principal = await authenticate(request)
    return Rendered(*_hello(principal.username, principal.user_id, principal.session_id))


@lru_cache(maxsize=4096)  # sessions calling now; the least recently used go first
def _hello(username: str, user_id: int, session_id: str) -> tuple[bytes, tuple[tuple[bytes, bytes], ...]]:
    body, headers = render({"message": f"Hello, {username}", "user_id": user_id, "session_id": session_id})
    return body, tuple(headers)


@router.get("/user/me", tags=["session"], response_model=Me, responses=error_responses(401, 503))
async def me(principal: CurrentPrincipal, response: Response) -> Me:
    response.headers.update(NO_STORE)
    return Me(
        id=principal.user_id, username=principal.username, scopes=list(principal.scopes),
        session_id=principal.session_id,
    )
