"""`ResourceServer`: the FastAPI dependency that protects a service's routes with the
token server's access tokens, and the handler that renders its errors."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from authclient.resource.errors import BearerError, InvalidBearerRequest, InvalidToken, MissingToken, handle_bearer_error
from authclient.resource.keys import JwksFetcher, RemoteKeySet
from authclient.resource.tokens import AccessClaims, Clock, check_scopes
from authclient.resource.verifier import JwtVerifier


class ResourceServer:
    def __init__(
        self, *, jwks_url: str, issuer: str, audience: str, token_url: str | None = None,
        scopes: dict[str, str] | None = None, clock: Clock | None = None, leeway_seconds: float = 5,
        fetch: JwksFetcher | None = None, cache_seconds: float = 300, refetch_seconds: float = 1,
    ) -> None:
        """`jwks_url`, `issuer` and `audience` are the token server's (`JWT_ISSUER`,
        `JWT_AUDIENCE`); `token_url` and `scopes` only feed the service's OpenAPI docs.
        `clock` (any object with `now()` returning an aware UTC datetime) and `fetch`
        are for tests."""
        keys = RemoteKeySet(
            jwks_url, fetch=fetch, clock=clock, cache_for=timedelta(seconds=cache_seconds),
            refetch_after=timedelta(seconds=refetch_seconds),
        )
        self.verifier = JwtVerifier(keys, issuer=issuer, audience=audience, clock=clock, leeway=leeway_seconds)
        # Declared so the service's OpenAPI docs offer Authorize against the token endpoint.
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
        """Render 400/401/403/503 as RFC 6750 responses, as the token server does; the
        service's other handlers are left alone."""
        app.add_exception_handler(BearerError, handle_bearer_error)


def access_token_of(request: Request) -> str | None:
    """The token of the one `Authorization: Bearer` header (RFC 6750 §2.1): None when the
    request carries no bearer credentials, "" when the header is malformed. Two headers,
    or a header and an `access_token` query parameter, are two ways at once, which RFC
    6750 §2 forbids (which one a proxy checked is unknowable): invalid_request. Query
    tokens alone are not read (RFC 6750 §5.3: they leak into logs)."""
    values = request.headers.getlist("authorization")
    if len(values) > 1:
        raise InvalidBearerRequest("Send one Authorization header.")
    if not values:
        return None
    scheme, _, token = values[0].partition(" ")
    if scheme.lower() != "bearer":
        return None
    if "access_token" in request.query_params:
        raise InvalidBearerRequest()
    return token.strip()
