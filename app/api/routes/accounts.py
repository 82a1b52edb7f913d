"""Sessions users can see and end, password change, and the admin's account actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AfterValidator

from app.api.deps import CurrentPrincipal, ServicesDep, require_scopes
from app.api.errors import NO_STORE
from app.api.params import client_ip, read_json_object, storable_text, text_param
from app.api.account_schemas import (
    AuditEventOut, PasswordChange, PasswordChanged, SessionOut, SessionsOut,
)
from app.api.schemas import error_responses
from app.errors import InvalidRequest
from app.oauth.accounts import MAX_PAGE, NotFound, SessionPage
from app.oauth.audit import RequestContext
from app.oauth.issuer import Principal
from app.oauth.validation import ADMIN_SCOPE

router = APIRouter(tags=["sessions"])
NO_SESSION: dict[int | str, dict[str, object]] = {404: {"description": "No live session of yours has that id."}}
SessionId = Annotated[str, Path(min_length=1, max_length=64)]
Username = Annotated[str, Path(min_length=1, max_length=150), AfterValidator(storable_text)]


def _not_found() -> Response:
    return Response(status_code=404, content=b'{"error":"not_found"}', media_type="application/json")


def context(request: Request, principal: Principal | None = None) -> RequestContext:
    return RequestContext(
        ip=client_ip(request),
        user_agent=request.headers.get("user-agent"),
        client_id=principal.claims.client_id if principal else None,
        actor=principal.claims.sub if principal else None,
    )


Limit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Sessions per page.")]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]


def _out(page: SessionPage, current: str | None) -> SessionsOut:
    return SessionsOut(
        sessions=[SessionOut(current=v.id == current, **vars(v)) for v in page.sessions], next_cursor=page.next_cursor,
    )


@router.get("/user/sessions", response_model=SessionsOut, responses=error_responses(400, 401, 503))
async def my_sessions(
    principal: CurrentPrincipal, services: ServicesDep, response: Response, limit: Limit = 100, cursor: Cursor = None,
) -> SessionsOut:
    """The caller's live sessions, newest first, `limit` a page; the one of this token is
    `current`. `next_cursor`, when not null, fetches the next page."""
    response.headers.update(NO_STORE)
    return _out(await services.accounts.list_sessions(principal.user_id, limit, cursor), principal.session_id)


@router.delete("/user/sessions/{session_id}", status_code=204, responses=error_responses(400, 401, 503) | NO_SESSION)
async def end_my_session(
    session_id: SessionId, principal: CurrentPrincipal, services: ServicesDep, request: Request
) -> Response:
    try:
        await services.accounts.end_session(principal.user_id, session_id, context(request, principal))
    except NotFound:
        return _not_found()
    return Response(status_code=204)


@router.post(
    "/user/password", response_model=PasswordChanged, responses=error_responses(400, 401, 413, 429, 503),
    openapi_extra={"requestBody": {"required": True, "content": {"application/json": {"schema": PasswordChange.model_json_schema()}}}},
)
async def change_password(principal: CurrentPrincipal, services: ServicesDep, request: Request) -> PasswordChanged:
    """Needs the current password; every other session of the user ends. Wrong current
    passwords count against the login limits (429 with Retry-After)."""
    data = read_json_object(await request.body())
    current, new = data.get("current_password"), data.get("new_password")
    if not isinstance(current, str) or not isinstance(new, str):
        raise InvalidRequest("current_password and new_password are required strings.")
    current, new = text_param("current_password", current), text_param("new_password", new)
    user = await services.users.get_by_id(principal.user_id)
    if user is None:
        raise InvalidRequest("The user no longer exists.")
    ended = await services.accounts.change_password(
        user, current, new, keep_session=principal.session_id, ctx=context(request, principal)
    )
    return PasswordChanged(other_sessions_ended=ended)


Admin = Annotated[Principal, require_scopes(ADMIN_SCOPE)]
NOT_FOUND: dict[int | str, dict[str, object]] = {404: {"description": "No such user."}}


@router.get("/admin/users/{username}/sessions", tags=["admin"], response_model=SessionsOut,
            responses=error_responses(400, 401, 403, 503) | NOT_FOUND)
async def user_sessions(
    username: Username, admin: Admin, services: ServicesDep, limit: Limit = 100, cursor: Cursor = None,
) -> Response | SessionsOut:
    try:
        _, page = await services.accounts.user_sessions(username, limit, cursor)
    except NotFound:
        return _not_found()
    return _out(page, None)


@router.delete("/admin/users/{username}/sessions/{session_id}", tags=["admin"], status_code=204,
               responses=error_responses(400, 401, 403, 503) | NOT_FOUND)
async def end_user_session(
    username: Username, session_id: SessionId, admin: Admin, services: ServicesDep, request: Request
) -> Response:
    try:
        user = await services.accounts.user(username)
        await services.accounts.end_session(user.id, session_id, context(request, admin), by_admin=True)
    except NotFound:
        return _not_found()
    return Response(status_code=204)


@router.get("/admin/audit", tags=["admin"], response_model=list[AuditEventOut], responses=error_responses(400, 401, 403, 503))
async def audit_events(
    admin: Admin, services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    event: Annotated[str | None, Query(pattern=r"^[a-z_]{1,40}$")] = None,
) -> list[AuditEventOut]:
    """Newest first."""
    records = await services.auditor.tail(limit, event=event)
    return [AuditEventOut(**vars(r)) for r in records]
