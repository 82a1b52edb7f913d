"""What an admin does to the client registry, from the command line or the admin API
alike: register, list, disable, enable, delete, reset a secret. Every change is audited
with the admin as `actor`.

Disabling or deleting a client ends every session issued to it, in the same
transaction. Its refresh tokens then never rotate again: they are bound to the client
(app.oauth.refresh_rule), and a disabled client authenticates no more
(app.oauth.clients), while a deleted one's sessions are revoked, because a refresh rule
that finds no client would let any caller claim its tokens.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Protocol

from app.clock import Clock
from app.errors import Conflict
from app.oauth import audit
from app.oauth.accounts import NotFound
from app.oauth.audit import Auditor, RequestContext
from app.oauth.clients import new_client_secret, new_registration
from app.oauth.validation import valid_scope
from app.security.tokens import hash_token
from app.store.clients import ClientRecord


class ClientRegistry(Protocol):
    async def get(self, client_id: str) -> ClientRecord | None: ...

    async def all(self) -> list[ClientRecord]: ...

    async def create(self, record: ClientRecord) -> ClientRecord: ...

    async def replace_secret(self, client_id: str, secret_hash: str) -> bool: ...

    async def delete(self, client_id: str, now: datetime) -> int | None: ...

    async def disable(self, client_id: str, now: datetime) -> int | None: ...

    async def enable(self, client_id: str) -> bool: ...


class ClientAdmin:
    def __init__(self, *, store: ClientRegistry, auditor: Auditor, clock: Clock, known_scopes: frozenset[str]) -> None:
        self._store = store
        self._audit = auditor
        self._clock = clock
        self._known = known_scopes

    async def all(self) -> list[ClientRecord]:
        return await self._store.all()

    async def client(self, client_id: str) -> ClientRecord:
        record = await self._store.get(client_id)
        if record is None:
            raise NotFound()
        return record

    async def create(
        self, name: str, *, confidential: bool, grant_types: list[str], scope: str, ctx: RequestContext
    ) -> tuple[ClientRecord, str | None]:
        """The record and its secret, to show once (None for a public client)."""
        scope = valid_scope(scope, self._known)
        record, secret = new_registration(
            name, confidential=confidential, grant_types=grant_types, scope=scope.split(), now=self._clock.now(),
        )
        await self._store.create(record)
        await self._audit.record(audit.CLIENT_CREATED, _about(ctx, record.client_id),
                                 detail=f"{'confidential' if confidential else 'public'}; scope: {scope}")
        return record, secret

    async def reset_secret(self, client_id: str, ctx: RequestContext) -> str:
        """Stored as its hash, as at registration; no request is served with the old one
        once this commits (client records are read per request, not cached)."""
        record = await self.client(client_id)
        fresh = new_client_secret()
        if not record.confidential or not await self._store.replace_secret(client_id, hash_token(fresh)):
            raise Conflict("A public client has no secret to reset.")
        await self._audit.record(audit.CLIENT_SECRET_RESET, _about(ctx, client_id))
        return fresh

    async def disable(self, client_id: str, ctx: RequestContext) -> int:
        ended = await self._store.disable(client_id, self._clock.now())
        if ended is None:
            raise NotFound()
        await self._audit.record(audit.CLIENT_DISABLED, _about(ctx, client_id), detail=f"ended {ended} sessions")
        return ended

    async def enable(self, client_id: str, ctx: RequestContext) -> ClientRecord:
        if not await self._store.enable(client_id):
            raise NotFound()
        await self._audit.record(audit.CLIENT_ENABLED, _about(ctx, client_id))
        return await self.client(client_id)

    async def delete(self, client_id: str, ctx: RequestContext) -> int:
        ended = await self._store.delete(client_id, self._clock.now())
        if ended is None:
            raise NotFound()
        await self._audit.record(audit.CLIENT_DELETED, _about(ctx, client_id), detail=f"ended {ended} sessions")
        return ended


def _about(ctx: RequestContext, client_id: str) -> RequestContext:
    """The trail's client_id names the client the change is about."""
    return replace(ctx, client_id=client_id)
