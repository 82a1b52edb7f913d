"""/login, /refresh, /user/_logout and the protected routes (CONTRACT §3)."""

from __future__ import annotations

import httpx
import pytest

from tests.support import PASSWORD, bearer, login_pair, refresh_grant

pytestmark = pytest.mark.usefixtures("user")


async def test_login_returns_a_pair(client: httpx.AsyncClient) -> None:
    r = await client.post("/login", json={"username": "alice", "password": PASSWORD})
    assert r.status_code == 200
    assert {"access_token", "refresh_token", "expires_in", "refresh_expires_in"} <= set(r.json())
    assert r.headers["cache-control"] == "no-store"


@pytest.mark.parametrize(
    "body", [{"username": "alice", "password": "wrong"}, {"username": "nobody", "password": "wrong"}]
)
async def test_login_with_bad_credentials_is_401(client: httpx.AsyncClient, body: dict[str, str]) -> None:
    r = await client.post("/login", json=body)
    assert r.status_code == 401
    assert r.json()["error"] == "invalid_grant"
    assert "www-authenticate" in r.headers


@pytest.mark.parametrize("content", [b"{", b"[]", b'{"username": "alice"}', b'{"username": 1, "password": 2}'])
async def test_login_with_malformed_body_is_400(client: httpx.AsyncClient, content: bytes) -> None:
    r = await client.post("/login", content=content, headers={"content-type": "application/json"})
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"


async def test_refresh_route_rotates_with_bearer_refresh_token(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    r = await client.post("/refresh", headers=bearer(pair["refresh_token"]))
    assert r.status_code == 200
    assert r.json()["refresh_token"] != pair["refresh_token"]
    assert r.headers["cache-control"] == "no-store"
    # the presented token is dead from that moment, on both refresh paths
    replay = await client.post("/refresh", headers=bearer(pair["refresh_token"]))
    assert replay.status_code == 401
    assert replay.headers["www-authenticate"].startswith('Bearer realm="authserver", error="invalid_token"')


@pytest.mark.parametrize("token", ["", "garbage", "rt_" + "A" * 43, "x" * 10_000])
async def test_refresh_route_refuses_bad_tokens(client: httpx.AsyncClient, token: str) -> None:
    r = await client.post("/refresh", headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_refresh_route_refuses_an_access_token(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    r = await client.post("/refresh", headers=bearer(pair["access_token"]))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_refresh_route_without_token_is_bare_challenge(client: httpx.AsyncClient) -> None:
    r = await client.post("/refresh")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="authserver"'


async def test_protected_routes_need_a_token(client: httpx.AsyncClient) -> None:
    for path in ("/protected", "/user/me"):
        r = await client.get(path)
        assert r.status_code == 401
        assert r.headers["www-authenticate"] == 'Bearer realm="authserver"'


@pytest.mark.parametrize(
    "header",
    ["Bearer garbage", "Bearer ", "Bearer a.b.c", "Bearer " + "e" * 20_000, "Bearer eyJhbGciOiJub25lIn0.e30."],
)
async def test_protected_routes_refuse_bad_tokens(client: httpx.AsyncClient, header: str) -> None:
    r = await client.get("/protected", headers={"Authorization": header})
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_alg_none_token_is_refused(client: httpx.AsyncClient) -> None:
    import jwt

    pair = await login_pair(client)
    claims = jwt.decode(pair["access_token"], options={"verify_signature": False})
    forged = jwt.encode(claims, None, algorithm="none", headers={"typ": "at+jwt"})
    r = await client.get("/protected", headers=bearer(forged))
    assert r.status_code == 401


async def test_refresh_token_is_not_an_access_token(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    r = await client.get("/protected", headers=bearer(pair["refresh_token"]))
    assert r.status_code == 401
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_me_describes_the_caller(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client, scope="read")
    r = await client.get("/user/me", headers=bearer(pair["access_token"]))
    assert r.status_code == 200
    body = r.json()
    assert body["username"] == "alice" and body["scopes"] == ["read"] and isinstance(body["id"], int)


async def test_query_token_is_not_accepted_on_protected_routes(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    r = await client.get("/protected", params={"access_token": pair["access_token"]})
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="authserver"'


@pytest.mark.parametrize("how", ["header", "query", "form", "refresh-header", "refresh-query"])
async def test_logout_kills_both_tokens_of_that_session_only(client: httpx.AsyncClient, how: str) -> None:
    mine = await login_pair(client)
    other = await login_pair(client)
    token = mine["refresh_token"] if how.startswith("refresh") else mine["access_token"]
    if how.endswith("header"):
        r = await client.post("/user/_logout", headers=bearer(token))
    elif how.endswith("query"):
        r = await client.post("/user/_logout", params={"access_token": token})
    else:
        r = await client.post("/user/_logout", data={"access_token": token})
    assert r.status_code == 200
    assert (await client.get("/protected", headers=bearer(mine["access_token"]))).status_code == 401
    assert (await refresh_grant(client, mine["refresh_token"])).json()["error"] == "invalid_grant"
    assert (await client.post("/refresh", headers=bearer(mine["refresh_token"]))).status_code == 401
    assert (await client.get("/protected", headers=bearer(other["access_token"]))).status_code == 200
    assert (await refresh_grant(client, other["refresh_token"])).status_code == 200


async def test_logout_is_idempotent_for_genuine_tokens(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    for _ in range(2):
        r = await client.post("/user/_logout", headers=bearer(pair["access_token"]))
        assert r.status_code == 200
    assert (await client.post("/user/_logout", headers=bearer(pair["refresh_token"]))).status_code == 200


@pytest.mark.parametrize("token", ["garbage", "rt_" + "B" * 43, "eyJhbGciOiJIUzI1NiJ9.e30.x"])
async def test_logout_with_foreign_token_is_401(client: httpx.AsyncClient, token: str) -> None:
    r = await client.post("/user/_logout", headers=bearer(token))
    assert r.status_code == 401


async def test_logout_without_token_is_401(client: httpx.AsyncClient) -> None:
    r = await client.post("/user/_logout")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == 'Bearer realm="authserver"'


async def test_logout_token_in_two_places_is_invalid_request(client: httpx.AsyncClient) -> None:
    pair = await login_pair(client)
    r = await client.post(
        "/user/_logout", headers=bearer(pair["access_token"]), params={"access_token": pair["access_token"]}
    )
    assert r.status_code == 400
    assert r.json()["error"] == "invalid_request"
    # nothing happened to the session
    assert (await client.get("/protected", headers=bearer(pair["access_token"]))).status_code == 200


async def test_health_and_readiness(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"
