"""Requests that are ambiguous about who is asking are refused, not guessed at: two
Authorization headers, a token sent two ways. The audit trail keeps no name that might
be a password typed in the wrong field."""

from __future__ import annotations

import base64

import httpx
import pytest

from app.oauth.audit import attempted_name
from tests.support import PASSWORD, bearer, login_pair, password_grant

pytestmark = pytest.mark.usefixtures("user")


async def test_two_authorization_headers_on_the_token_endpoint_are_invalid_request(client: httpx.AsyncClient) -> None:
    basic = "Basic " + base64.b64encode(b"app:").decode()
    data = {"grant_type": "password", "username": "alice", "password": PASSWORD}
    r = await client.post("/user/oauth/token", data=data, headers=[("Authorization", basic), ("Authorization", basic)])
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    sessions = await client.get("/user/sessions", headers=bearer((await login_pair(client))["access_token"]))
    assert len(sessions.json()["sessions"]) == 1  # the refused request started none


@pytest.mark.parametrize("path", ["/protected", "/user/me", "/user/sessions"])
async def test_two_authorization_headers_on_a_protected_route_are_invalid_request(
    client: httpx.AsyncClient, path: str
) -> None:
    """RFC 6750 §3.1: 400 invalid_request, with the challenge naming it."""
    token = (await login_pair(client))["access_token"]
    r = await client.get(path, headers=[("Authorization", f"Bearer {token}"), ("Authorization", "Bearer other")])
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    assert 'error="invalid_request"' in r.headers["www-authenticate"]


@pytest.mark.parametrize("path", ["/protected", "/user/me"])
async def test_token_in_header_and_query_is_invalid_request(client: httpx.AsyncClient, path: str) -> None:
    """RFC 6750 §2: a client uses exactly one method to send the token."""
    token = str((await login_pair(client))["access_token"])
    r = await client.get(path, params={"access_token": token}, headers=bearer(token))
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    assert 'error="invalid_request"' in r.headers["www-authenticate"]
    assert (await client.get(path, headers=bearer(token))).status_code == 200


async def test_failed_login_of_an_unknown_name_keeps_only_its_digest(client: httpx.AsyncClient) -> None:
    """A password typed into the username field must not land in the trail."""
    typed = "my-secret-password-in-the-wrong-field"
    assert (await password_grant(client, username=typed)).status_code == 400
    assert (await password_grant(client, password="wrong password")).status_code == 400
    auditor = client.app.state.services.auditor  # type: ignore[attr-defined]
    failed = [r for r in await auditor.tail(10, event="login_failed")]
    by_name = {r.username: r for r in failed}
    assert set(by_name) == {attempted_name(typed), "alice"}
    assert attempted_name(typed).startswith("sha256:") and len(attempted_name(typed)) == 7 + 16
    assert by_name["alice"].user_id is not None
    assert all(typed not in repr(r) for r in await auditor.tail(100))
