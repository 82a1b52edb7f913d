"""Read-only questions about tokens, for introspection (RFC 7662) and revocation
(RFC 7009): what a refresh token is worth now, and which registered client owns a session."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.store.tables import clients, sessions, tokens, users


@dataclass(frozen=True)
class RefreshStatus:
    session_id: str
    user_id: int
    username: str
    scope: str
    client_id: str | None
    owner: str | None  # the registered client the session belongs to, if any
    issued_at: datetime
    expires_at: datetime
    active: bool  # unused, unexpired, its session live and its user active


class SqlTokenLookup:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def refresh_status(self, token_hash: str, now: datetime) -> RefreshStatus | None:
        query = (
            select(
                tokens.c.session_id, tokens.c.issued_at, tokens.c.expires_at, tokens.c.used_at,
                sessions.c.user_id, sessions.c.scope, sessions.c.client_id, sessions.c.revoked_at,
                sessions.c.expires_at.label("session_expires_at"), users.c.username, users.c.is_active,
                clients.c.client_id.label("owner"),
            )
            .join(sessions, sessions.c.id == tokens.c.session_id)
            .join(users, users.c.id == sessions.c.user_id)
            .outerjoin(clients, clients.c.client_id == sessions.c.client_id)
            .where(tokens.c.token_hash == token_hash)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return None
        active = (
            row.used_at is None and row.expires_at > now and row.revoked_at is None
            and row.session_expires_at > now and bool(row.is_active)
        )
        return RefreshStatus(
            session_id=row.session_id, user_id=row.user_id, username=row.username, scope=row.scope or "",
            client_id=row.client_id, owner=row.owner, issued_at=row.issued_at, expires_at=row.expires_at,
            active=active,
        )

    async def session_owner(self, session_id: str) -> tuple[bool, str | None]:
        """(the session exists, the registered client it belongs to or None)."""
        query = (
            select(sessions.c.id, clients.c.client_id)
            .outerjoin(clients, and_(clients.c.client_id == sessions.c.client_id))
            .where(sessions.c.id == session_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return (False, None) if row is None else (True, row.client_id)
