"""The admin API for users and clients: bearer token with the `admin` scope (403
insufficient_scope without it). Each route parses, calls the domain
(app.oauth.user_admin, app.oauth.client_admin: the command line's code too) and
translates; the domain validates, audits with the admin's `sub` as actor, and ends
sessions where a change takes something away.

Bodies are JSON objects read by `read_json_object` (a repeated key is refused like
everywhere else), each field checked here for its type with its own message; 404 is an
unknown user or client, 409 a duplicate, 400 invalid input.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from pydantic import AfterValidator, BaseModel

from app.api.admin_schemas import (
    DEFAULT_CLIENT_SCOPE, DEFAULT_USER_SCOPE, ClientChanged, ClientCreate, ClientCreated, ClientOut, ClientSecret,
    PasswordSet, ScopeChange, SessionsEnded, UserChanged, UserCreate, UserOut, UsersOut,
)
from app.api.account_schemas import UserDisabled
from app.api.deps import ServicesDep
from app.api.errors import NO_STORE
from app.api.params import read_json_object, storable_text, text_param
from app.api.routes.accounts import Admin, Username, context
from app.api.schemas import error_responses
from app.errors import InvalidRequest
from app.oauth.accounts import MAX_PAGE
from app.oauth.clients import SUPPORTED_GRANTS
from app.store.clients import ClientRecord
from app.store.users import UserRecord

router = APIRouter(tags=["admin"])
ClientId = Annotated[str, Path(min_length=1, max_length=64), AfterValidator(storable_text)]
UserLimit = Annotated[int, Query(ge=1, le=MAX_PAGE, description="Users per page.")]
UserCursor = Annotated[str | None, Query(max_length=20, description="`next_cursor` of the previous page.")]
NO_USER: dict[int | str, dict[str, object]] = {404: {"description": "No such user."}}
NO_CLIENT: dict[int | str, dict[str, object]] = {404: {"description": "No such client."}}
TAKEN: dict[int | str, dict[str, object]] = {409: {"description": "A user of that name already exists."}}
PUBLIC: dict[int | str, dict[str, object]] = {409: {"description": "A public client has no secret."}}
ERRORS = error_responses(400, 401, 403, 503)
WITH_BODY = error_responses(400, 401, 403, 413, 503)


def _body(model: type[BaseModel]) -> dict[str, Any]:
    """Documents a JSON body the route reads itself."""
    schema = {"application/json": {"schema": model.model_json_schema()}}
    return {"requestBody": {"required": True, "content": schema}}


async def _fields(request: Request, model: type[BaseModel]) -> dict[str, object]:
    data = read_json_object(await request.body())
    if set(data) - set(model.model_fields):
        raise InvalidRequest(f"The body takes only these fields: {', '.join(model.model_fields)}.")
    return data


def _text(data: dict[str, object], name: str, default: str | None = None) -> str:
    value = data.get(name, default)
    if value is None:
        raise InvalidRequest(f"{name} is required.")
    return text_param(name, value)


def _user(user: UserRecord) -> UserOut:
    return UserOut(id=user.id, username=user.username, scope=user.scope, is_active=user.is_active,
                   created_at=user.created_at)


def _client(record: ClientRecord) -> ClientOut:
    return ClientOut(
        client_id=record.client_id, client_name=record.name,
        token_endpoint_auth_method="client_secret_basic" if record.confidential else "none",
        grant_types=list(record.grant_types), scope=" ".join(record.scope),
        disabled=record.disabled_at is not None, created_at=record.created_at,
    )


@router.get("/admin/users", response_model=UsersOut, responses=ERRORS)
async def list_users(admin: Admin, services: ServicesDep, limit: UserLimit = 100, cursor: UserCursor = None) -> UsersOut:
    """Accounts by id, `limit` a page; `next_cursor`, when not null, fetches the next."""
    page = await services.user_admin.page(limit, cursor)
    return UsersOut(users=[_user(u) for u in page.users], next_cursor=page.next_cursor)


@router.post("/admin/users", status_code=201, response_model=UserOut, responses=WITH_BODY | TAKEN,
             openapi_extra=_body(UserCreate))
async def create_user(admin: Admin, services: ServicesDep, request: Request) -> UserOut:
    data = await _fields(request, UserCreate)
    user = await services.user_admin.create(
        _text(data, "username"), _text(data, "password"), _text(data, "scope", DEFAULT_USER_SCOPE),
        context(request, admin),
    )
    return _user(user)


@router.get("/admin/users/{username}", response_model=UserOut, responses=ERRORS | NO_USER)
async def get_user(username: Username, admin: Admin, services: ServicesDep) -> UserOut:
    return _user(await services.user_admin.user(username))


@router.post("/admin/users/{username}/enable", response_model=UserOut, responses=ERRORS | NO_USER)
async def enable_user(username: Username, admin: Admin, services: ServicesDep, request: Request) -> UserOut:
    """Sessions ended by the disable stay ended: the user logs in again."""
    return _user(await services.user_admin.enable(username, context(request, admin)))


@router.post("/admin/users/{username}/disable", response_model=UserDisabled, responses=ERRORS | NO_USER)
async def disable_user(username: Username, admin: Admin, services: ServicesDep, request: Request) -> UserDisabled:
    """Disables the account and ends all its sessions at once."""
    return UserDisabled(sessions_ended=await services.user_admin.disable(username, context(request, admin)))


@router.put("/admin/users/{username}/scope", response_model=UserChanged, responses=WITH_BODY | NO_USER,
            openapi_extra=_body(ScopeChange))
async def set_user_scope(username: Username, admin: Admin, services: ServicesDep, request: Request) -> UserChanged:
    """Replaces the user's scopes. Taking one away ends all their sessions (a session
    keeps the grant it started with); adding one takes effect at the next login."""
    scope = _text(await _fields(request, ScopeChange), "scope")
    user, ended = await services.user_admin.set_scope(username, scope, context(request, admin))
    return UserChanged(user=_user(user), sessions_ended=ended)


@router.put("/admin/users/{username}/password", response_model=SessionsEnded, responses=WITH_BODY | NO_USER,
            openapi_extra=_body(PasswordSet))
async def set_user_password(username: Username, admin: Admin, services: ServicesDep, request: Request) -> SessionsEnded:
    """Sets a new password without the current one; every session of the user ends."""
    password = _text(await _fields(request, PasswordSet), "password")
    return SessionsEnded(sessions_ended=await services.user_admin.set_password(username, password, context(request, admin)))


@router.delete("/admin/users/{username}", response_model=SessionsEnded, responses=ERRORS | NO_USER)
async def delete_user(username: Username, admin: Admin, services: ServicesDep, request: Request) -> SessionsEnded:
    """Deletes the account and ends all its sessions at once. Its audit events stay, and
    its id is never given to another account; the name is free again."""
    return SessionsEnded(sessions_ended=await services.user_admin.delete(username, context(request, admin)))


@router.delete("/admin/users/{username}/sessions", response_model=SessionsEnded, responses=ERRORS | NO_USER)
async def end_user_sessions(username: Username, admin: Admin, services: ServicesDep, request: Request) -> SessionsEnded:
    user = await services.accounts.user(username)
    return SessionsEnded(sessions_ended=await services.accounts.end_all_sessions(user.id, context(request, admin)))


@router.get("/admin/clients", response_model=list[ClientOut], responses=ERRORS)
async def list_clients(admin: Admin, services: ServicesDep) -> list[ClientOut]:
    """Registered clients, oldest first; never their secrets."""
    return [_client(r) for r in await services.client_admin.all()]


@router.post("/admin/clients", status_code=201, response_model=ClientCreated, responses=WITH_BODY,
             openapi_extra=_body(ClientCreate))
async def create_client(admin: Admin, services: ServicesDep, request: Request, response: Response) -> ClientCreated:
    """A confidential client's secret is in this response only (stored as its hash)."""
    data = await _fields(request, ClientCreate)
    confidential, grants = data.get("confidential", False), data.get("grant_types", list(SUPPORTED_GRANTS))
    if not isinstance(confidential, bool):
        raise InvalidRequest("confidential must be true or false.")
    if not isinstance(grants, list) or not all(isinstance(g, str) for g in grants):
        raise InvalidRequest("grant_types must be a list of strings.")
    record, secret = await services.client_admin.create(
        _text(data, "client_name"), confidential=confidential, grant_types=grants,
        scope=_text(data, "scope", DEFAULT_CLIENT_SCOPE), ctx=context(request, admin),
    )
    response.headers.update(NO_STORE)
    return ClientCreated(**_client(record).model_dump(), client_secret=secret)


@router.get("/admin/clients/{client_id}", response_model=ClientOut, responses=ERRORS | NO_CLIENT)
async def get_client(client_id: ClientId, admin: Admin, services: ServicesDep) -> ClientOut:
    return _client(await services.client_admin.client(client_id))


@router.post("/admin/clients/{client_id}/disable", response_model=ClientChanged, responses=ERRORS | NO_CLIENT)
async def disable_client(client_id: ClientId, admin: Admin, services: ServicesDep, request: Request) -> ClientChanged:
    """It authenticates no more, and every session issued to it ends: its refresh tokens
    never rotate again, for it or anyone claiming its id."""
    ended = await services.client_admin.disable(client_id, context(request, admin))
    return ClientChanged(client_id=client_id, sessions_ended=ended)


@router.post("/admin/clients/{client_id}/enable", response_model=ClientOut, responses=ERRORS | NO_CLIENT)
async def enable_client(client_id: ClientId, admin: Admin, services: ServicesDep, request: Request) -> ClientOut:
    return _client(await services.client_admin.enable(client_id, context(request, admin)))


@router.delete("/admin/clients/{client_id}", response_model=ClientChanged, responses=ERRORS | NO_CLIENT)
async def delete_client(client_id: ClientId, admin: Admin, services: ServicesDep, request: Request) -> ClientChanged:
    """Every session issued to it ends in the same transaction."""
    ended = await services.client_admin.delete(client_id, context(request, admin))
    return ClientChanged(client_id=client_id, sessions_ended=ended)


@router.post("/admin/clients/{client_id}/secret", response_model=ClientSecret,
             responses=ERRORS | NO_CLIENT | PUBLIC)
async def reset_client_secret(
    client_id: ClientId, admin: Admin, services: ServicesDep, request: Request, response: Response,
) -> ClientSecret:
    """A new secret, shown only here; the old one stops working at once."""
    secret = await services.client_admin.reset_secret(client_id, context(request, admin))
    response.headers.update(NO_STORE)
    return ClientSecret(client_id=client_id, client_secret=secret)
