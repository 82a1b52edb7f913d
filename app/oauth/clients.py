"""Who is asking: client authentication (RFC 6749 §2.3) against the client registry.

A registered client is held to its registration: a confidential one must present its
secret (HTTP Basic or form), a public one must not present any, and both are limited to
the grant types and scopes they were registered with. A client_id we do not know, or
none at all, is the contract's public client of before the registry: accepted without
limits while ALLOW_UNREGISTERED_PUBLIC_CLIENTS is true, `invalid_client` otherwise. A
disabled client is `invalid_client` always: its id names a registration, so nobody may
claim it as an unregistered one.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from app.errors import InvalidClient, InvalidRequest
from app.security.tokens import hash_token
from app.store.clients import ClientRecord, ClientStore

SUPPORTED_GRANTS = ("password", "refresh_token")
# RFC 9068 §2.2 makes client_id a required claim; requests that name no client get this.
ANONYMOUS_CLIENT_ID = "anonymous"
_DUMMY_HASH = hash_token("no client has this secret")


@dataclass(frozen=True)
class ClientCredentials:
    """As parsed from the request (HTTP Basic or form); not yet checked."""

    client_id: str | None = None
    secret: str | None = None


@dataclass(frozen=True)
class Client:
    """An authenticated caller. `registered=False` means unknown or anonymous: no limits."""

    client_id: str | None = None
    registered: bool = False
    confidential: bool = False
    grant_types: tuple[str, ...] | None = None
    scope: tuple[str, ...] | None = None

    def allows_grant(self, grant_type: str) -> bool:
        return self.grant_types is None or grant_type in self.grant_types

    def limit_scope(self, user_scope: str) -> str:
        """The user's scopes this client may carry, in the user's order."""
        if self.scope is None:
            return user_scope
        return " ".join(s for s in user_scope.split() if s in self.scope)


ANONYMOUS = Client()


def new_client_id() -> str:
    return "c_" + secrets.token_urlsafe(12)


def new_client_secret() -> str:
    return "cs_" + secrets.token_urlsafe(32)


def secret_matches(secret: str, secret_hash: str | None) -> bool:
    return hmac.compare_digest(hash_token(secret), secret_hash or _DUMMY_HASH) and secret_hash is not None


class ClientAuthenticator:
    def __init__(self, store: ClientStore, *, allow_unregistered: bool) -> None:
        self._store = store
        self._allow_unregistered = allow_unregistered

    async def authenticate(self, creds: ClientCredentials, *, confidential_only: bool = False) -> Client:
        """Raises InvalidClient for every failure alike, so the reason is not disclosed."""
        record = await self._store.get(creds.client_id) if creds.client_id else None
        if record is not None and record.disabled_at is not None:
            # known, so never the unregistered public client; disabled, so no client at all
            secret_matches(creds.secret or "", None)  # same work as a real check
            raise InvalidClient()
        if record is None:
            if creds.secret is not None:
                secret_matches(creds.secret, None)  # same work as a real check
                raise InvalidClient()
            if confidential_only or not self._allow_unregistered:
                raise InvalidClient()
            return Client(client_id=creds.client_id)
        if record.confidential:
            if creds.secret is None or not secret_matches(creds.secret, record.secret_hash):
                raise InvalidClient()
        elif creds.secret is not None or confidential_only:
            raise InvalidClient()
        return _client(record)


def _client(record: ClientRecord) -> Client:
    return Client(
        client_id=record.client_id, registered=True, confidential=record.confidential,
        grant_types=record.grant_types, scope=record.scope,
    )


def new_registration(
    name: str, *, confidential: bool, grant_types: list[str], scope: list[str], now: datetime
) -> tuple[ClientRecord, str | None]:
    """A record to store and the secret to show once (None for a public client)."""
    unknown = set(grant_types) - set(SUPPORTED_GRANTS)
    if unknown or not grant_types:
        raise InvalidRequest(f"The grant types must be some of: {' '.join(SUPPORTED_GRANTS)}.")
    if not name or len(name) > 150 or name != name.strip() or not name.isprintable():
        raise InvalidRequest("The client name must be 1 to 150 printable characters, without surrounding spaces.")
    secret = new_client_secret() if confidential else None
    record = ClientRecord(
        client_id=new_client_id(), name=name, secret_hash=hash_token(secret) if secret else None,
        grant_types=tuple(dict.fromkeys(grant_types)), scope=tuple(dict.fromkeys(scope)), created_at=now,
    )
    return record, secret
