"""For other FastAPI services: trust this server's access tokens from its JWKS URL alone.

    from app.api.resource_server import ResourceServer

    auth = ResourceServer(
        jwks_url="https://auth.example.com/.well-known/jwks.json",
        issuer="https://auth.example.com", audience="authserver",
    )
    auth.install(app)  # 401/403/503 as RFC 6750 responses, like the token server's

    @app.get("/orders")
    async def orders(claims: Annotated[AccessClaims, auth.require("read")]) -> ...:
        ...  # claims.sub, claims.scopes, claims.client_id, claims.sid

The same typed claims (AccessClaims) and errors (InvalidToken, MissingToken,
InsufficientScope) as the server's own routes; verification is stateless (see
app.security.jwks_client for what that means for logout).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from app.api.errors import install_oauth_error_handler
from app.api.params import access_token_of
from app.clock import Clock
from app.errors import InvalidToken, MissingToken
from app.security.jwks_client import JwksFetcher, JwtVerifier, RemoteKeySet
from app.security.jwt import AccessClaims, check_scopes


class ResourceServer:
    def __init__(
        self, *, jwks_url: str, issuer: str, audience: str, token_url: str | None = None,
        scopes: dict[str, str] | None = None, clock: Clock | None = None, leeway_seconds: float = 5,
        fetch: JwksFetcher | None = None, cache_seconds: float = 300, refetch_seconds: float = 1,
    ) -> None:
        keys = RemoteKeySet(
            jwks_url, fetch=fetch, clock=clock, cache_for=timedelta(seconds=cache_seconds),
            refetch_after=timedelta(seconds=refetch_seconds),
        )
        self.verifier = JwtVerifier(keys, issuer=issuer, audience=audience, clock=clock, leeway=leeway_seconds)
        # Declared so the service's OpenAPI docs offer Authorize against our token endpoint.
        scheme = OAuth2PasswordBearer(
            tokenUrl=token_url or f"{issuer.rstrip('/')}/user/oauth/token", scopes=scopes or {},
            auto_error=False, scheme_name="authserver",
        )

        # A default, not Annotated[...]: the annotation is a string here (PEP 563) and
        # `scheme` a local that FastAPI could not resolve from it.
        async def claims(
            security_scopes: SecurityScopes, request: Request,
            _declared: Any = Security(scheme),
        ) -> AccessClaims:
            token = access_token_of(request)
            if token is None:
                raise MissingToken()
            if not token:
                raise InvalidToken()
            verified = await self.verifier.verify(token)
            check_scopes(security_scopes.scopes, verified.scopes)
            return verified

        self.claims = claims

    def require(self, *scopes: str) -> Any:
        """`Annotated[AccessClaims, auth.require("read")]`; no scopes: any valid token."""
        return Security(self.claims, scopes=list(scopes))

    def install(self, app: FastAPI) -> None:
        install_oauth_error_handler(app)
