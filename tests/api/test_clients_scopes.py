"""The client registry on the token endpoint (RFC 6749 §2.3, §5.2) and scopes on
protected routes (RFC 6750 §3.1)."""

from __future__ import annotations

from typing import Annotated

import httpx
import pytest
from fastapi import APIRouter

from app.api.deps import require_scopes
from app.clock import FrozenClock
from app.oauth.issuer import Principal
from app.settings import Settings
from tests.support import PASSWORD, app_client, bearer, login_pair, password_grant, refresh_grant
from tests.trust_support import basic, register_client

pytestmark = pytest.mark.usefixtures("user")
LOGIN = {"grant_type": "password", "username": "alice", "password": PASSWORD}


def assert_invalid_client(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_client"
    assert r.headers["www-authenticate"].startswith("Basic")


async def test_confidential_client_authenticates_by_basic_or_form(client: httpx.AsyncClient, settings: Settings) -> None:
    record, secret = await register_client(settings)
    r = await client.post("/user/oauth/token", data=LOGIN, headers=basic(record.client_id, secret))
    assert r.status_code == 200
    r = await client.post("/user/oauth/token", data={**LOGIN, "client_id": record.client_id, "client_secret": secret or ""})
    assert r.status_code == 200
    me = await client.get("/user/me", headers=bearer(r.json()["access_token"]))
    assert me.status_code == 200


async def test_client_authentication_failures_are_invalid_client(client: httpx.AsyncClient, settings: Settings) -> None:
    conf, secret = await register_client(settings)
    public, _ = await register_client(settings, "spa", confidential=False)
    assert_invalid_client(await client.post("/user/oauth/token", data=LOGIN, headers=basic(conf.client_id, "cs_wrong")))
    assert_invalid_client(await client.post("/user/oauth/token", data={**LOGIN, "client_id": conf.client_id}))  # no secret
    assert_invalid_client(await client.post("/user/oauth/token", data=LOGIN, headers=basic(public.client_id, "a secret")))
    assert_invalid_client(await client.post("/user/oauth/token", data=LOGIN, headers=basic("c_unknown", "cs_guess")))
    assert_invalid_client(await client.post("/user/oauth/token", data={**LOGIN, "client_secret": "no id"}))
    # two authentication methods at once is a malformed request (RFC 6749 §2.3)
    both = await client.post(
        "/user/oauth/token", data={**LOGIN, "client_secret": secret or ""}, headers=basic(conf.client_id, secret)
    )
    assert both.status_code == 400 and both.json()["error"] == "invalid_request"
    # and a registered public client needs no secret
    assert (await password_grant(client, client_id=public.client_id)).status_code == 200


async def test_unregistered_clients_can_be_switched_off(settings: Settings, clock: FrozenClock) -> None:
    strict = settings.model_copy(update={"allow_unregistered_public_clients": False})
    record, _ = await register_client(settings, "spa", confidential=False)
    async with app_client(strict, clock) as client:
        assert_invalid_client(await password_grant(client))
        assert_invalid_client(await password_grant(client, client_id="legacy-cli"))
        assert_invalid_client(await client.post("/oauth/revoke", data={"token": "x"}))
        assert (await password_grant(client, client_id=record.client_id)).status_code == 200


async def test_client_is_limited_to_its_grants_and_scopes(client: httpx.AsyncClient, settings: Settings) -> None:
    record, secret = await register_client(settings, grant_types=("password",), scope="profile read")
    auth = basic(record.client_id, secret)
    r = await client.post("/user/oauth/token", data=LOGIN, headers=auth)
    assert r.status_code == 200 and r.json()["scope"] == "profile read"  # alice also has write
    wider = await client.post("/user/oauth/token", data={**LOGIN, "scope": "read write"}, headers=auth)
    assert wider.status_code == 400 and wider.json()["error"] == "invalid_scope"
    refresh = await client.post(
        "/user/oauth/token", data={"grant_type": "refresh_token", "refresh_token": r.json()["refresh_token"]}, headers=auth
    )
    assert refresh.status_code == 400 and refresh.json()["error"] == "unauthorized_client"


async def test_refresh_token_is_bound_to_its_registered_client(client: httpx.AsyncClient, settings: Settings) -> None:
    mine, my_secret = await register_client(settings, "mine")
    other, other_secret = await register_client(settings, "other")
    pair = (await client.post("/user/oauth/token", data=LOGIN, headers=basic(mine.client_id, my_secret))).json()
    refresh = {"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}
    stolen = await client.post("/user/oauth/token", data=refresh, headers=basic(other.client_id, other_secret))
    assert stolen.status_code == 400 and stolen.json()["error"] == "invalid_grant"
    assert (await refresh_grant(client, pair["refresh_token"])).json()["error"] == "invalid_grant"  # anonymous
    assert (await client.post("/refresh", headers=bearer(pair["refresh_token"]))).status_code == 401
    # none of that spent the token: its own client still refreshes, and may narrow the scope
    ok = await client.post("/user/oauth/token", data={**refresh, "scope": "read"}, headers=basic(mine.client_id, my_secret))
    assert ok.status_code == 200 and ok.json()["scope"] == "read"


async def test_contract_public_clients_keep_working(client: httpx.AsyncClient) -> None:
    """CONTRACT §3: until a client is registered, a client_id in the form or as Basic with
    an empty secret is accepted, and so is no client at all; /refresh still rotates."""
    pair = await login_pair(client, client_id="legacy-cli")
    r = await client.post("/user/oauth/token", data=LOGIN, headers=basic("legacy-cli", ""))
    assert r.status_code == 200
    assert (await client.post("/refresh", headers=bearer(pair["refresh_token"]))).status_code == 200


def orders_router() -> APIRouter:
    """A resource server's route that needs two scopes, mounted on the test app."""
    router = APIRouter()

    @router.get("/orders")
    async def orders(principal: Annotated[Principal, require_scopes("read", "write")]) -> dict[str, object]:
        return {"user": principal.username}

    return router


async def test_require_scopes_answers_403_insufficient_scope(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, routers=[orders_router()]) as client:
        full = await login_pair(client)
        narrow = await login_pair(client, scope="read")
        assert (await client.get("/orders", headers=bearer(full["access_token"]))).status_code == 200
        r = await client.get("/orders", headers=bearer(narrow["access_token"]))
        assert r.status_code == 403 and r.json()["error"] == "insufficient_scope"
        challenge = r.headers["www-authenticate"]
        assert challenge.startswith("Bearer ") and 'error="insufficient_scope"' in challenge and 'scope="read write"' in challenge
        # no token, or a bad one, is still 401
        assert (await client.get("/orders")).status_code == 401
        assert (await client.get("/orders", headers=bearer("garbage"))).status_code == 401


async def test_openapi_shows_the_scopes(settings: Settings, clock: FrozenClock) -> None:
    async with app_client(settings, clock, routers=[orders_router()]) as client:
        doc = (await client.get("/openapi.json")).json()
    flow = doc["components"]["securitySchemes"]["OAuth2PasswordBearer"]["flows"]["password"]
    assert set(flow["scopes"]) == {"profile", "read", "write"}
    security = doc["paths"]["/orders"]["get"]["security"]
    assert {"OAuth2PasswordBearer": ["read", "write"]} in security
    assert doc["paths"]["/oauth/introspect"]["post"]["security"] == [{"ClientSecretBasic": []}]
