"""Protect a FastAPI service with the token server's access tokens, from its JWKS URL
alone: no shared secret, no call to the token server per request.

    from typing import Annotated
    from fastapi import FastAPI
    from authclient.resource import AccessClaims, ResourceServer

    app = FastAPI()
    auth = ResourceServer(
        jwks_url="https://auth.example.com/.well-known/jwks.json",
        issuer="https://auth.example.com", audience="authserver",
    )
    auth.install(app)  # 401/403/503 as RFC 6750 responses, like the token server's

    @app.get("/orders")
    async def orders(claims: Annotated[AccessClaims, auth.require("read")]) -> dict[str, str]:
        return {"user": claims.sub}

Installed with `pip install 'authclient[resource]'` (FastAPI, PyJWT with cryptography,
httpx); it imports nothing of the token server. The server must sign with an asymmetric
`JWT_ALGORITHM` (EdDSA, ES256 or RS256): see `verifier.py`.
"""

try:
    import cryptography  # noqa: F401
    import fastapi  # noqa: F401
    import jwt  # noqa: F401
except ModuleNotFoundError as exc:
    raise ModuleNotFoundError(
        f"authclient.resource needs {exc.name}, which its extra installs: pip install 'authclient[resource]'",
        name=exc.name,
    ) from None

from authclient.resource.errors import (
    BearerError,
    InsufficientScope,
    InvalidBearerRequest,
    InvalidToken,
    MissingToken,
    ServiceUnavailable,
)
from authclient.resource.keys import HttpJwksFetcher, JwksFetcher, RemoteKeySet, VerificationKey, key_from_jwk
from authclient.resource.service import ResourceServer
from authclient.resource.tokens import AccessClaims, Clock, SystemClock
from authclient.resource.verifier import JwtVerifier

__all__ = [
    "AccessClaims",
    "BearerError",
    "Clock",
    "HttpJwksFetcher",
    "InsufficientScope",
    "InvalidBearerRequest",
    "InvalidToken",
    "JwksFetcher",
    "JwtVerifier",
    "MissingToken",
    "RemoteKeySet",
    "ResourceServer",
    "ServiceUnavailable",
    "SystemClock",
    "VerificationKey",
    "key_from_jwk",
]
