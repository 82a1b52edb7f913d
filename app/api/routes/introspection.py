"""RFC 7009 revocation and RFC 7662 introspection. Clients authenticate as on the token
endpoint; introspection needs a confidential client with its secret."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from app.api.deps import ServicesDep
from app.api.errors import NO_STORE
from app.api.openapi import CLIENT_BASIC
from app.api.params import client_credentials, read_params
from app.api.schemas import error_responses
from app.api.trust_schemas import Introspection, TokenForm
from app.errors import InvalidRequest
from app.oauth.clients import Client

router = APIRouter(tags=["tokens"])
FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/x-www-form-urlencoded": {"schema": TokenForm.model_json_schema()}},
    }
}


async def _token_and_client(request: Request, services: ServicesDep, *, confidential: bool) -> tuple[str, Client]:
    """A malformed request is refused before the client is looked up, as on the token
    endpoint: it costs no database work and tells an unauthenticated caller nothing."""
    params = await read_params(request)
    token = params.get("token")
    if token is None:
        raise InvalidRequest("token is required.")
    client = await services.clients.authenticate(client_credentials(request, params), confidential_only=confidential)
    return token, client


@router.post(
    "/oauth/revoke",
    responses={200: {"description": "Revoked, or not a live token of this client: the same answer."},
               **error_responses(400, 401, 413, 503)},
    summary="Revoke an access or refresh token, ending its session (RFC 7009)",
    openapi_extra=FORM_BODY,
)
async def revoke(request: Request, services: ServicesDep) -> Response:
    token, client = await _token_and_client(request, services, confidential=False)
    await services.inspector.revoke(token, client)
    return Response(status_code=200, headers=dict(NO_STORE))


@router.post(
    "/oauth/introspect",
    response_model=Introspection,
    responses=error_responses(400, 401, 413, 503),
    summary="Introspect a token (RFC 7662); for authenticated confidential clients",
    openapi_extra={**FORM_BODY, "security": [{CLIENT_BASIC: []}]},
)
async def introspect(request: Request, services: ServicesDep) -> JSONResponse:
    token, client = await _token_and_client(request, services, confidential=True)
    return JSONResponse(await services.inspector.introspect(token, client), headers=dict(NO_STORE))
