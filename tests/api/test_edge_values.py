"""Values that reach the database only after the edge has checked them: ids, event
names and forwarded addresses. Neither backend may see text it cannot store."""

from __future__ import annotations

import httpx
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import PASSWORD, app_client, bearer, create_user, login_pair, sid_of

pytestmark = pytest.mark.usefixtures("user")


@pytest.mark.parametrize("bad", ["%00", "a%00b", "0" * 31 + "%00", "z" * 32, "A" * 32, "0" * 33])
async def test_malformed_session_id_is_not_found(client: httpx.AsyncClient, settings: Settings, bad: str) -> None:
    """A session id is 32 lowercase hex characters; anything else is no session of
    yours (404, as an unknown id), never a 500 and nothing ended."""
    await create_user(settings, username="root", scope="profile admin")
    mine = await login_pair(client)
    admin = await login_pair(client, username="root")
    r = await client.delete(f"/user/sessions/{bad}", headers=bearer(mine["access_token"]))
    assert r.status_code == 404, r.text
    r = await client.delete(f"/admin/users/alice/sessions/{bad}", headers=bearer(admin["access_token"]))
    assert r.status_code == 404, r.text
    assert (await client.get("/protected", headers=bearer(mine["access_token"]))).status_code == 200


async def test_audit_filter_with_nul_is_invalid_request(client: httpx.AsyncClient, settings: Settings) -> None:
    await create_user(settings, username="root", scope="profile admin")
    admin = await login_pair(client, username="root")
    for event in ("login\x00failed", "\x1b[31m", "x" * 41):
        r = await client.get("/admin/audit", params={"event": event}, headers=bearer(admin["access_token"]))
        assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    r = await client.get("/admin/audit", params={"event": "login_succeeded"}, headers=bearer(admin["access_token"]))
    assert r.status_code == 200 and len(r.json()) == 1


@pytest.mark.parametrize(
    "hop, expected",
    [
        ("fe80::1%" + "a" * 200, "10.0.0.1"),  # scoped beyond any column: ignored, the peer stands
        ("not-an-ip", "10.0.0.1"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),  # normalised, not stored as typed
        ("198.51.100.9", "198.51.100.9"),
    ],
    ids=["long-scope", "garbage", "ipv6-normalised", "ipv4"],
)
async def test_forwarded_hop_is_parsed_and_normalised(
    settings: Settings, clock: FrozenClock, hop: str, expected: str
) -> None:
    """A trusted proxy's X-Forwarded-For hop is an address or nothing: an invalid or
    over-long one falls back to the peer, never truncated into another address."""
    async with app_client(settings, clock, peer=("10.0.0.1", 4000), trusted_proxies="10.0.0.0/8") as client:
        pair = await login_pair_via(client, hop)
        r = await client.get("/user/sessions", headers=bearer(pair["access_token"]))
        assert r.status_code == 200, r.text
        [session] = r.json()["sessions"]
        assert session["id"] == sid_of(pair) and session["ip"] == expected


async def login_pair_via(client: httpx.AsyncClient, hop: str) -> dict[str, object]:
    r = await client.post(
        "/user/oauth/token", headers={"X-Forwarded-For": hop},
        data={"grant_type": "password", "username": "alice", "password": PASSWORD},
    )
    assert r.status_code == 200, r.text
    body: dict[str, object] = r.json()
    return body


async def test_json_body_with_a_repeated_key_is_invalid_request(client: httpx.AsyncClient) -> None:
    """As a repeated form parameter is (RFC 6749 §3.2): the last-wins reading of JSON
    would let a proxy and this server see different values."""
    pair = await login_pair(client)
    json_type = {"content-type": "application/json"}
    token = '{"grant_type": "password", "username": "mallory", "username": "alice", "password": "%s"}' % PASSWORD
    r = await client.post("/user/oauth/token", content=token, headers=json_type)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    login = '{"username": "alice", "password": "x", "password": "%s"}' % PASSWORD
    r = await client.post("/login", content=login, headers=json_type)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    nested = '{"username": "alice", "password": "%s", "extra": {"a": 1, "a": 2}}' % PASSWORD
    r = await client.post("/login", content=nested, headers=json_type)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    change = '{"current_password": "%s", "new_password": "a new long password", "new_password": "another long one"}' % PASSWORD
    r = await client.post("/user/password", content=change, headers={**json_type, **bearer(pair["access_token"])})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    r = await client.post("/login", content='{"username": "alice", "password": "%s"}' % PASSWORD, headers=json_type)
    assert r.status_code == 200, r.text  # the password is unchanged
