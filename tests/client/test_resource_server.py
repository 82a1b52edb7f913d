"""authclient.resource protecting another FastAPI service: the token server's own tokens
(from an in-process server, its JWKS fetched from it) accepted by scope, failures in the
server's RFC 6750 shapes, and a server signing with HS256 explained in the log, once."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
import httpx
import pytest
from fastapi import FastAPI

from app.clock import FrozenClock
from app.settings import Settings
from authclient.resource import AccessClaims, ResourceServer
from tests.support import app_client, bearer, login_pair

pytestmark = pytest.mark.usefixtures("user")
AUDIENCE = "authserver"


def service(auth: ResourceServer) -> FastAPI:
    """Another team's service: it knows the token server's JWKS, issuer and audience."""
    app = FastAPI()
    auth.install(app)

    @app.get("/orders")
    async def orders(claims: AccessClaims = auth.require("read")) -> dict[str, object]:  # auth: a local
        return {"sub": claims.sub, "client": claims.client_id, "scopes": list(claims.scopes)}

    @app.get("/admin")
    async def admin(claims: AccessClaims = auth.require("admin")) -> dict[str, str]:
        return {"sub": claims.sub}

    return app


@asynccontextmanager
async def protected(settings: Settings, clock: FrozenClock) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The token server (in-process) and a service whose helper fetches its JWKS from it."""
    async with app_client(settings, clock) as server:
        async def fetch(url: str) -> Mapping[str, object]:
            data: dict[str, object] = (await server.get(url)).json()
            return data

        auth = ResourceServer(
            jwks_url="http://testserver/.well-known/jwks.json", issuer=settings.jwt_issuer, audience=AUDIENCE,
            clock=clock, fetch=fetch,
        )
        transport = httpx.ASGITransport(app=service(auth))
        async with httpx.AsyncClient(transport=transport, base_url="http://service") as svc:
            yield server, svc


async def test_protects_routes_with_the_servers_tokens(settings: Settings, clock: FrozenClock) -> None:
    async with protected(settings.model_copy(update={"jwt_algorithm": "EdDSA"}), clock) as (server, svc):
        token = (await login_pair(server, client_id="orders-cli"))["access_token"]
        ok = await svc.get("/orders", headers=bearer(token))
        assert ok.status_code == 200, ok.text
        assert ok.json()["client"] == "orders-cli" and "read" in ok.json()["scopes"]

        missing = await svc.get("/orders")
        assert missing.status_code == 401 and missing.headers["www-authenticate"] == 'Bearer realm="authserver"'
        forged = await svc.get("/orders", headers=bearer(str(token)[:-4] + "AAAA"))
        assert forged.status_code == 401 and forged.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in forged.headers["www-authenticate"]
        scope = await svc.get("/admin", headers=bearer(token))
        assert scope.status_code == 403 and 'scope="admin"' in scope.headers["www-authenticate"]
        twice = await svc.get("/orders", headers=[("authorization", f"Bearer {token}")] * 2)
        assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"
        both = await svc.get("/orders", params={"access_token": str(token)}, headers=bearer(token))
        assert both.status_code == 400
        assert ok.headers.get("cache-control") != "no-store" and forged.headers["cache-control"] == "no-store"


async def test_an_hs256_server_is_explained_once(
    settings: Settings, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    assert settings.jwt_algorithm == "HS256"  # the server's default
    caplog.set_level(logging.WARNING, logger="authclient.resource")
    async with protected(settings, clock) as (server, svc):
        token = (await login_pair(server))["access_token"]
        for _ in range(3):
            r = await svc.get("/orders", headers=bearer(token))
            assert r.status_code == 401 and r.json()["error"] == "invalid_token"
    hints = [r for r in caplog.records if r.name == "authclient.resource" and "JWT_ALGORITHM" in r.getMessage()]
    assert len(hints) == 1, [r.getMessage() for r in caplog.records]
    message = hints[0].getMessage()
    assert "HS256" in message and "EdDSA" in message and "RS256" in message
    assert str(token) not in caplog.text


async def test_an_empty_jwks_is_explained_once(
    settings: Settings, clock: FrozenClock, caplog: pytest.LogCaptureFixture
) -> None:
    """A token of an asymmetric kind meets a JWKS without a key (the server signs with a
    shared secret, or publishes nothing usable): the same explanation, once."""
    caplog.set_level(logging.WARNING, logger="authclient.resource")
    async with protected(settings.model_copy(update={"jwt_algorithm": "ES256"}), clock) as (server, _):
        token = str((await login_pair(server))["access_token"])

    async def empty(url: str) -> Mapping[str, object]:
        return {"keys": []}

    auth = ResourceServer(jwks_url="http://as/jwks", issuer=settings.jwt_issuer, audience=AUDIENCE,
                          clock=clock, fetch=empty, refetch_seconds=0)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=service(auth)), base_url="http://svc") as svc:
        for _ in range(3):
            assert (await svc.get("/orders", headers=bearer(token))).status_code == 401
    hints = [r for r in caplog.records if r.name == "authclient.resource" and "JWT_ALGORITHM" in r.getMessage()]
    assert len(hints) == 1 and "no public signing key" in hints[0].getMessage()
