"""`POST /login` and `POST /refresh` hold a client to the token endpoint's rule: with
ALLOW_UNREGISTERED_PUBLIC_CLIENTS=false only a registered client gets tokens, and the
failures keep each route's own error contract (CONTRACT §3: /login 401, /refresh 401
`invalid_token` with a Bearer challenge)."""

from __future__ import annotations

import httpx
import jwt
import pytest

from app.clock import FrozenClock
from app.settings import Settings
from tests.support import PASSWORD, app_client, bearer
from tests.trust_support import basic, register_client

pytestmark = pytest.mark.usefixtures("user")
CREDENTIALS = {"username": "alice", "password": PASSWORD}


def strict(settings: Settings) -> Settings:
    return settings.model_copy(update={"allow_unregistered_public_clients": False})


def client_of(pair: dict[str, object]) -> object:
    return jwt.decode(str(pair["access_token"]), options={"verify_signature": False}).get("client_id")


def assert_refresh_refused(r: httpx.Response) -> None:
    assert r.status_code == 401, r.text
    assert r.json()["error"] == "invalid_token"
    assert 'error="invalid_token"' in r.headers["www-authenticate"]


async def test_login_without_a_registered_client_is_refused_when_they_are_required(
    settings: Settings, clock: FrozenClock
) -> None:
    async with app_client(strict(settings), clock) as client:
        for body in (CREDENTIALS, {**CREDENTIALS, "client_id": "legacy-cli"}):
            r = await client.post("/login", json=body)
            assert r.status_code == 401, r.text
            assert r.json()["error"] == "invalid_client"
            assert r.headers["www-authenticate"].startswith("Basic")
            assert "access_token" not in r.json()


async def test_registered_public_client_logs_in_and_refreshes_by_client_id(settings: Settings, clock: FrozenClock) -> None:
    public, _ = await register_client(settings, "spa", confidential=False)
    async with app_client(strict(settings), clock) as client:
        r = await client.post("/login", json={**CREDENTIALS, "client_id": public.client_id})
        assert r.status_code == 200, r.text
        pair = r.json()
        assert client_of(pair) == public.client_id
        # naming no client is refused, and does not spend the token
        assert_refresh_refused(await client.post("/refresh", headers=bearer(pair["refresh_token"])))
        r = await client.post("/refresh", headers=bearer(pair["refresh_token"]), data={"client_id": public.client_id})
        assert r.status_code == 200, r.text
        assert client_of(r.json()) == public.client_id


async def test_registered_confidential_client_authenticates_on_login_and_refresh(
    settings: Settings, clock: FrozenClock
) -> None:
    record, secret = await register_client(settings, "svc")
    assert secret is not None
    async with app_client(strict(settings), clock) as client:
        by_basic = await client.post("/login", json=CREDENTIALS, headers=basic(record.client_id, secret))
        assert by_basic.status_code == 200, by_basic.text
        by_body = await client.post("/login", json={**CREDENTIALS, "client_id": record.client_id, "client_secret": secret})
        assert by_body.status_code == 200, by_body.text
        assert client_of(by_body.json()) == record.client_id
        wrong = await client.post("/login", json={**CREDENTIALS, "client_id": record.client_id, "client_secret": "cs_no"})
        assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"

        token = by_body.json()["refresh_token"]
        assert_refresh_refused(await client.post(
            "/refresh", headers=bearer(token), json={"client_id": record.client_id, "client_secret": "cs_no"}))
        assert_refresh_refused(await client.post("/refresh", headers=bearer(token), json={"client_id": record.client_id}))
        r = await client.post("/refresh", headers=bearer(token), json={"client_id": record.client_id, "client_secret": secret})
        assert r.status_code == 200, r.text


async def test_login_is_held_to_the_clients_scopes(settings: Settings, clock: FrozenClock) -> None:
    record, _ = await register_client(settings, "spa", confidential=False, scope="read")
    async with app_client(strict(settings), clock) as client:
        r = await client.post("/login", json={**CREDENTIALS, "client_id": record.client_id})
        assert r.status_code == 200 and r.json()["scope"] == "read"  # alice also has profile and write


async def test_contract_login_and_refresh_keep_working_without_a_client(client: httpx.AsyncClient) -> None:
    """The default allows unregistered clients: no client is named, and a bearer header
    sent to /login (which reads no bearer) is ignored as it always was."""
    r = await client.post("/login", json=CREDENTIALS, headers=bearer("stale-token"))
    assert r.status_code == 200, r.text
    refreshed = await client.post("/refresh", headers=bearer(r.json()["refresh_token"]))
    assert refreshed.status_code == 200, refreshed.text
