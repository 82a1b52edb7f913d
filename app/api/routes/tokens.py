"""Token-issuing routes: the RFC 6749 token endpoint, /login and /refresh."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from app.api.deps import REFRESH_TOKEN_SECURITY, read_refresh_token
from app.api.request_route import RequestRoute
from app.api.services import services_of
from app.api.errors import NO_STORE
from app.api.params import (
    client_credentials, client_ip, parse_pairs, read_json_object, read_params, sends_basic,
    text_param,
)
from app.api.responses import header_tuples, json_response
from app.api.schemas import LoginRequest, RefreshForm, TokenForm, TokenResponse, error_responses
from app.errors import InvalidCredentials, InvalidGrant, InvalidRequest, InvalidToken, OAuthError
from app.oauth.grants import TokenRequest
from app.oauth.issuer import IssuedTokens

router = APIRouter(tags=["tokens"], route_class=RequestRoute)  # each endpoint reads its request itself


_NO_STORE = header_tuples(NO_STORE)
CLIENT_FIELDS = ("client_id", "client_secret")  # RFC 6749 §2.3.1, in the body of /login and /refresh


def token_response(tokens: IssuedTokens) -> Response:
    body = {
        "access_token": tokens.access_token,
        "token_type": tokens.token_type,
        "expires_in": tokens.expires_in,
        "refresh_token": tokens.refresh_token,
        "refresh_expires_in": tokens.refresh_expires_in,
        "session_expires_in": tokens.session_expires_in,
        "scope": tokens.scope,
    }
    return json_response(body, _NO_STORE)  # what JSONResponse(body, headers=NO_STORE) sends, faster


def _request_body(model: type[TokenForm] | type[LoginRequest], *types: str) -> dict[str, object]:
    schema = model.model_json_schema()
    return {
        "requestBody": {
            "required": True,
            "content": {t: {"schema": schema} for t in types},
        }
    }


@router.post(
    "/user/oauth/token",
    response_model=TokenResponse,
    responses=error_responses(400, 401, 413, 429, 503),
    summary="OAuth 2.0 token endpoint (password and refresh_token grants)",
    openapi_extra=_request_body(TokenForm, "application/x-www-form-urlencoded", "application/json"),
)
async def token_endpoint(request: Request) -> Response:
    services = services_of(request)
    params = await read_params(request)
    client = await services.clients.authenticate(client_credentials(request, params))
    grant_type = params.get("grant_type")
    if grant_type is None:
        raise InvalidRequest("grant_type is required.")
    tokens = await services.grants.issue(
        TokenRequest(
            grant_type=grant_type,
            username=params.get("username"),
            password=params.get("password"),
            refresh_token=params.get("refresh_token"),
            scope=params.get("scope"),
            client_id=client.client_id,
            client_ip=client_ip(request),
            user_agent=request.headers.get("user-agent"),
            client=client,
        )
    )
    return token_response(tokens)


@router.post(
    "/login",
    response_model=TokenResponse,
    responses=error_responses(400, 401, 413, 429, 503),
    summary="Log in with a JSON username and password",
    openapi_extra=_request_body(LoginRequest, "application/json"),
)
async def login(request: Request) -> Response:
    """The client is authenticated as on the token endpoint (HTTP Basic, or `client_id`
    and `client_secret` in the JSON body), by the same rule: none, or an unknown one, is
    accepted only while ALLOW_UNREGISTERED_PUBLIC_CLIENTS is true."""
    services = services_of(request)
    data = read_json_object(await request.body())
    username, password = data.get("username"), data.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        raise InvalidRequest("username and password are required strings.")
    username, password = text_param("username", username), text_param("password", password)
    named = parse_pairs([(name, data[name]) for name in CLIENT_FIELDS if name in data])
    creds = client_credentials(request, named, basic_allowed=sends_basic(request))
    client = await services.clients.authenticate(creds)
    try:
        tokens = await services.grants.issue(
            TokenRequest(
                grant_type="password", username=username, password=password, client_id=client.client_id,
                client=client, client_ip=client_ip(request), user_agent=request.headers.get("user-agent"),
            )
        )
    except InvalidGrant:
        raise InvalidCredentials() from None
    return token_response(tokens)


@router.post(
    "/refresh",
    response_model=TokenResponse,
    responses=error_responses(401, 503),
    summary="Rotate a refresh token presented as bearer",
    openapi_extra={
        **REFRESH_TOKEN_SECURITY,
        "requestBody": {
            "required": False,
            "content": {t: {"schema": RefreshForm.model_json_schema()}
                        for t in ("application/x-www-form-urlencoded", "application/json")},
        },
    },
)
async def refresh(request: Request) -> Response:
    """The Authorization header carries the refresh token, so a client names itself in
    the body (`client_id`, and `client_secret` when confidential; form or JSON), checked
    by the token endpoint's rule. Every failure, the client's too, is the contract's 401
    `invalid_token`, and none of them spends the token."""
    token = read_refresh_token(request)
    services = services_of(request)
    try:
        params = await read_params(request)
        client = await services.clients.authenticate(client_credentials(request, params, basic_allowed=False))
        tokens = await services.grants.issue(
            TokenRequest(
                grant_type="refresh_token", refresh_token=token, client_id=client.client_id, client=client,
                client_ip=client_ip(request), user_agent=request.headers.get("user-agent"),
            )
        )
    except OAuthError as exc:
        if exc.status_code >= 500 or exc.status_code == 429:
            raise
        raise InvalidToken(exc.description or "The refresh token is invalid.") from None
    return token_response(tokens)
