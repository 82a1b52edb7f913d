"""Client authentication against an in-memory registry, and what a client may ask for."""

from __future__ import annotations

import pytest

from app.clock import FrozenClock
from app.errors import InvalidClient, InvalidRequest, InvalidScope, UnauthorizedClient
from app.oauth.clients import ANONYMOUS, Client, ClientAuthenticator, ClientCredentials, new_registration
from app.oauth.grants import Grants, TokenRequest, narrow_scope
from app.store.clients import ClientRecord


class MemoryClients:
    def __init__(self, *records: ClientRecord) -> None:
        self._records = {r.client_id: r for r in records}

    async def get(self, client_id: str) -> ClientRecord | None:
        return self._records.get(client_id)


def registered(confidential: bool, **kw: object) -> tuple[ClientRecord, str | None]:
    return new_registration(
        "svc", confidential=confidential, grant_types=list(kw.get("grants", ["password", "refresh_token"])),  # type: ignore[call-overload]
        scope=list(kw.get("scope", ["read"])), now=FrozenClock().now(),  # type: ignore[call-overload]
    )


async def test_confidential_client_needs_its_secret() -> None:
    record, secret = registered(confidential=True)
    auth = ClientAuthenticator(MemoryClients(record), allow_unregistered=True)
    client = await auth.authenticate(ClientCredentials(record.client_id, secret))
    assert client.registered and client.confidential and client.scope == ("read",)
    for wrong in (None, "cs_wrong", (secret or "") + "x"):
        with pytest.raises(InvalidClient):
            await auth.authenticate(ClientCredentials(record.client_id, wrong))


async def test_secret_is_stored_only_as_a_hash() -> None:
    record, secret = registered(confidential=True)
    assert secret and secret not in repr(record) and record.secret_hash and len(record.secret_hash) == 64


async def test_public_client_must_not_send_a_secret_and_cannot_introspect() -> None:
    record, _ = registered(confidential=False)
    auth = ClientAuthenticator(MemoryClients(record), allow_unregistered=True)
    assert (await auth.authenticate(ClientCredentials(record.client_id))).registered
    with pytest.raises(InvalidClient):
        await auth.authenticate(ClientCredentials(record.client_id, "anything"))
    with pytest.raises(InvalidClient):
        await auth.authenticate(ClientCredentials(record.client_id), confidential_only=True)


@pytest.mark.parametrize("allow", [True, False])
async def test_unregistered_clients_follow_the_setting(allow: bool) -> None:
    auth = ClientAuthenticator(MemoryClients(), allow_unregistered=allow)
    for creds in (ClientCredentials(), ClientCredentials("legacy-cli")):
        if allow:
            client = await auth.authenticate(creds)
            assert not client.registered and client.client_id == creds.client_id
        else:
            with pytest.raises(InvalidClient):
                await auth.authenticate(creds)
    with pytest.raises(InvalidClient):  # a secret we cannot check is never ignored
        await auth.authenticate(ClientCredentials("legacy-cli", "secret"))


async def test_client_is_held_to_its_grant_types() -> None:
    async def grant(request: TokenRequest) -> object:
        return "issued"

    grants = Grants({"password": grant, "refresh_token": grant})  # type: ignore[dict-item]
    only_password = Client("c_1", registered=True, grant_types=("password",))
    assert await grants.issue(TokenRequest("password", client=only_password)) == "issued"  # type: ignore[comparable-overlap]
    with pytest.raises(UnauthorizedClient):
        await grants.issue(TokenRequest("refresh_token", client=only_password))
    assert await grants.issue(TokenRequest("refresh_token", client=ANONYMOUS)) == "issued"  # type: ignore[comparable-overlap]


def test_granted_scope_is_what_both_user_and_client_allow() -> None:
    client = Client("c_1", registered=True, scope=("read", "profile"))
    allowed = client.limit_scope("profile read write")
    assert allowed == "profile read"
    assert narrow_scope(None, allowed) == "profile read"
    assert narrow_scope("read", allowed) == "read"
    with pytest.raises(InvalidScope):
        narrow_scope("write", allowed)  # the user has it, the client may not carry it
    assert ANONYMOUS.limit_scope("profile read write") == "profile read write"


def test_registration_refuses_unknown_grant_types() -> None:
    with pytest.raises(InvalidRequest):
        new_registration("x", confidential=True, grant_types=["client_credentials"], scope=[], now=FrozenClock().now())
