"""What OAuth2 libraries look for: RFC 8414 server metadata and the JWKS (RFC 7517) that
lets every other service verify our access tokens on its own."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from app.api.deps import ServicesDep
from app.api.schemas import error_responses
from app.api.trust_schemas import JsonWebKeySet, ServerMetadata
from app.oauth.clients import SUPPORTED_GRANTS
from app.settings import Settings

router = APIRouter(tags=["discovery"])

TOKEN_PATH = "/user/oauth/token"
REVOKE_PATH = "/oauth/revoke"
INTROSPECT_PATH = "/oauth/introspect"
JWKS_PATH = "/.well-known/jwks.json"
# Verifiers cache the key set themselves and refetch on an unknown kid; an HTTP cache in
# between must not hand them a copy from before a rotation.
JWKS_CACHE = {"Cache-Control": "no-cache"}


def server_metadata(settings: Settings) -> dict[str, object]:
    """Endpoint URLs are built on JWT_ISSUER, this server's public URL, not on the Host
    header of the request: behind a proxy only the configured URL is right."""
    base = settings.jwt_issuer
    secret_methods = ["client_secret_basic", "client_secret_post"]
    return {
        "issuer": base,
        "token_endpoint": base + TOKEN_PATH,
        "jwks_uri": base + JWKS_PATH,
        "revocation_endpoint": base + REVOKE_PATH,
        "introspection_endpoint": base + INTROSPECT_PATH,
        "grant_types_supported": list(SUPPORTED_GRANTS),
        "response_types_supported": [],  # no authorization endpoint: no response types
        "token_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "revocation_endpoint_auth_methods_supported": [*secret_methods, "none"],
        "introspection_endpoint_auth_methods_supported": secret_methods,
        "scopes_supported": settings.scopes,
        "service_documentation": base + "/docs",
        **session_policy(settings),
    }


def session_policy(settings: Settings) -> dict[str, object]:
    """Extension metadata (RFC 8414 §2: a server may add its own): what a client must
    know to refresh safely. Rotation is always on (RFC 9700 §4.14.2); the grace window
    and the reuse mode are the REFRESH_REUSE_* settings. With each token response's
    `session_expires_in`, a client knows when it must log in again."""
    grace = settings.refresh_reuse_grace_seconds
    return {
        "refresh_token_rotation": True,
        "refresh_token_reuse_grace_seconds": int(grace) if grace == int(grace) else grace,
        "refresh_token_reuse_detection": settings.refresh_reuse_detection,
    }


@router.get(
    "/.well-known/oauth-authorization-server",
    response_model=ServerMetadata,
    summary="OAuth 2.0 authorization server metadata (RFC 8414)",
)
async def metadata(services: ServicesDep) -> JSONResponse:
    return JSONResponse(server_metadata(services.settings), headers={"Cache-Control": "public, max-age=300"})


@router.get(
    JWKS_PATH,
    response_model=JsonWebKeySet,
    responses=error_responses(503),
    summary="The public keys that verify access tokens (current and not yet retired)",
)
async def jwks(services: ServicesDep) -> JSONResponse:
    return JSONResponse({"keys": await services.keys.published()}, headers=JWKS_CACHE)
