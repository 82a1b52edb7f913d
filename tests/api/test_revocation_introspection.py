"""RFC 7009 revocation and RFC 7662 introspection: an expired, revoked or unknown token
is `{"active": false}`; revocation ends the session at once."""

from __future__ import annotations

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import PASSWORD, bearer, login_pair, refresh_grant
from tests.trust_support import basic, register_client

pytestmark = pytest.mark.usefixtures("user")
LOGIN = {"grant_type": "password", "username": "alice", "password": PASSWORD}


@pytest.fixture
async def rs(settings: Settings) -> dict[str, str]:
    """A resource server's confidential client."""
    record, secret = await register_client(settings, "resource-server")
    return basic(record.client_id, secret)


async def introspect(client: httpx.AsyncClient, auth: dict[str, str], token: object, **extra: str) -> dict[str, object]:
    r = await client.post("/oauth/introspect", data={"token": str(token), **extra}, headers=auth)
    assert r.status_code == 200, r.text
    assert r.headers["cache-control"] == "no-store"
    body: dict[str, object] = r.json()
    return body


async def test_introspection_describes_a_live_access_token(client: httpx.AsyncClient, rs: dict[str, str]) -> None:
    pair = await login_pair(client, client_id="my-cli")
    info = await introspect(client, rs, pair["access_token"], token_type_hint="access_token")
    assert info["active"] is True and info["token_type"] == "Bearer"
    assert info["username"] == "alice" and info["client_id"] == "my-cli" and info["scope"] == "profile read write"
    assert info["iss"] == "http://127.0.0.1:8000" and info["aud"] == "authserver"
    assert info["exp"] - info["iat"] == 1200  # type: ignore[operator]
    # a wrong hint does no harm (RFC 7009 §2.1 / RFC 7662 §2.1)
    assert (await introspect(client, rs, pair["access_token"], token_type_hint="refresh_token"))["active"] is True


async def test_expired_revoked_or_unknown_tokens_are_inactive(
    client: httpx.AsyncClient, rs: dict[str, str], clock: FrozenClock
) -> None:
    expiring = await login_pair(client)
    revoked = await login_pair(client)
    assert (await client.post("/user/_logout", headers=bearer(revoked["access_token"]))).status_code == 200
    clock.advance(minutes=21)
    for token in (expiring["access_token"], revoked["access_token"], revoked["refresh_token"],
                  "rt_" + "A" * 43, "eyJhbGciOiJub25lIn0.e30.", "garbage"):
        assert await introspect(client, rs, token) == {"active": False}


async def test_refresh_tokens_are_introspected_for_their_own_client_only(
    client: httpx.AsyncClient, settings: Settings, rs: dict[str, str]
) -> None:
    record, secret = await register_client(settings, "app")
    mine = basic(record.client_id, secret)
    pair = (await client.post("/user/oauth/token", data=LOGIN, headers=mine)).json()
    info = await introspect(client, mine, pair["refresh_token"])
    assert info["active"] is True and info["client_id"] == record.client_id and "token_type" not in info
    assert await introspect(client, rs, pair["refresh_token"]) == {"active": False}
    # introspection never spends a refresh token
    assert (await client.post("/user/oauth/token", data={"grant_type": "refresh_token", "refresh_token": pair["refresh_token"]}, headers=mine)).status_code == 200


async def test_introspection_needs_a_confidential_client(client: httpx.AsyncClient, settings: Settings, rs: dict[str, str]) -> None:
    pair = await login_pair(client)
    public, _ = await register_client(settings, "spa", confidential=False)
    record_id = rs["Authorization"]
    for headers, data in [
        ({}, {}),
        ({}, {"client_id": "legacy-cli"}),
        (basic(public.client_id, ""), {}),
        ({"Authorization": record_id[:-4] + "AAA="}, {}),
        (bearer(pair["access_token"]), {}),
    ]:
        r = await client.post("/oauth/introspect", data={"token": str(pair["access_token"]), **data}, headers=headers)
        assert r.status_code == 401 and r.json()["error"] == "invalid_client", (headers, r.text)
        assert r.headers["www-authenticate"].startswith("Basic")
    missing = await client.post("/oauth/introspect", data={}, headers=rs)
    assert missing.status_code == 400 and missing.json()["error"] == "invalid_request"


@pytest.mark.parametrize("kind", ["refresh_token", "access_token"])
async def test_revoking_either_token_ends_the_session(client: httpx.AsyncClient, rs: dict[str, str], kind: str) -> None:
    pair = await login_pair(client)
    other = await login_pair(client)
    r = await client.post("/oauth/revoke", data={"token": str(pair[kind]), "token_type_hint": kind})
    assert r.status_code == 200 and r.headers["cache-control"] == "no-store"
    assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401
    assert (await refresh_grant(client, pair["refresh_token"])).json()["error"] == "invalid_grant"
    assert await introspect(client, rs, pair["access_token"]) == {"active": False}
    assert (await client.get("/protected", headers=bearer(other["access_token"]))).status_code == 200
    # revoking again, or revoking garbage, is the same success (RFC 7009 §2.2)
    for token in (pair[kind], "garbage", "rt_" + "B" * 43):
        assert (await client.post("/oauth/revoke", data={"token": str(token)})).status_code == 200


async def test_a_client_cannot_revoke_another_registered_clients_tokens(
    client: httpx.AsyncClient, settings: Settings, rs: dict[str, str]
) -> None:
    record, secret = await register_client(settings, "app")
    pair = (await client.post("/user/oauth/token", data=LOGIN, headers=basic(record.client_id, secret))).json()
    for auth in (rs, {}):
        assert (await client.post("/oauth/revoke", data={"token": pair["refresh_token"]}, headers=auth)).status_code == 200
    assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200
    assert (await client.post("/oauth/revoke", data={"token": pair["refresh_token"]}, headers=basic(record.client_id, secret))).status_code == 200
    assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 401


async def test_revocation_errors(client: httpx.AsyncClient, settings: Settings) -> None:
    record, _ = await register_client(settings, "app")
    r = await client.post("/oauth/revoke", data={"token": "x"}, headers=basic(record.client_id, "cs_wrong"))
    assert r.status_code == 401 and r.json()["error"] == "invalid_client" and r.headers["www-authenticate"].startswith("Basic")
    r = await client.post("/oauth/revoke", data={})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
    r = await client.post("/oauth/revoke", content=b"token=a&token=b", headers={"content-type": "application/x-www-form-urlencoded"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request"
