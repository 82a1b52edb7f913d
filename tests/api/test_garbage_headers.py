"""A token whose header is deeply nested JSON (under the length limit) makes the JSON
decoder raise RecursionError, not ValueError. Reading the header must still end in
401 invalid_token, on the server's protected routes and on the resource-server helper,
never in a 500."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from datetime import timedelta

import httpx
import pytest
from fastapi import FastAPI

from app.api.resource_server import ResourceServer
from app.clock import FrozenClock
from app.security.jwk import generate_private_key, signing_key
from app.security.jwt import MAX_TOKEN_LENGTH, AccessClaims, encode_access_token
from tests.support import bearer, login_pair

ISSUER, AUDIENCE = "https://as.example", "authserver"


def nested_header_token(payload_and_signature: str = "e30.c2ln") -> str:
    header = base64.urlsafe_b64encode(b"[" * 1100 + b"]" * 1100).rstrip(b"=").decode()
    token = f"{header}.{payload_and_signature}"
    assert len(token) < MAX_TOKEN_LENGTH  # reaches the header, not refused by its length
    return token


@pytest.mark.usefixtures("user")
async def test_nested_json_header_on_protected_routes_is_invalid_token(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    genuine = str(pair["access_token"])
    assert (await client.get("/protected", headers=bearer(genuine))).status_code == 200
    token = nested_header_token(genuine.split(".", 1)[1])  # a genuine payload and signature
    for path in ("/protected", "/user/me"):
        r = await client.get(path, headers=bearer(token))
        assert r.status_code == 401, (path, r.text)
        assert r.json()["error"] == "invalid_token"
        assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_nested_json_header_on_the_resource_server_is_invalid_token() -> None:
    clock = FrozenClock()
    key = signing_key(generate_private_key("EdDSA"), "EdDSA")

    async def fetch(url: str) -> Mapping[str, object]:
        return {"keys": [key.jwk]}

    auth = ResourceServer(
        jwks_url=f"{ISSUER}/.well-known/jwks.json", issuer=ISSUER, audience=AUDIENCE, clock=clock, fetch=fetch,
    )
    service = FastAPI()
    auth.install(service)

    @service.get("/orders")
    async def orders(claims: AccessClaims = auth.require("read")) -> dict[str, str]:  # auth: a local
        return {"sub": claims.sub}

    genuine = encode_access_token(
        sub="7", sid="s" * 32, jti="j", scope="read", issued_at=clock.now(), lifetime=timedelta(minutes=5),
        key=key.private, algorithm=key.algorithm, kid=key.kid, issuer=ISSUER, audience=AUDIENCE,
    )
    transport = httpx.ASGITransport(app=service, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://service") as http:
        assert (await http.get("/orders", headers=bearer(genuine))).json() == {"sub": "7"}
        r = await http.get("/orders", headers=bearer(nested_header_token(genuine.split(".", 1)[1])))
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_token" and 'error="invalid_token"' in r.headers["www-authenticate"]
