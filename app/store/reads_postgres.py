"""The session cache's reads on PostgreSQL (app.store.reads): one statement each on the
driver path's asyncpg pool (app.store.rotation_postgres), outside any transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from app.errors import ServiceUnavailable
from app.store.rotation_postgres import PostgresRotator, unavailable
from app.store.sessions import LiveRow, UserRow

# SqlSessionStore.live_many's query, its columns in LiveRow's order (it filters the rows).
_LIVE = """
SELECT s.id, s.user_id, s.scope, u.username, u.is_active, s.revoked_at, s.expires_at, s.idle_expires_at
FROM login_session s JOIN user_account u ON u.id = s.user_id
WHERE s.id = ANY($1::varchar[])
"""
_REVOKED = "SELECT id FROM login_session WHERE revoked_at >= $1"  # ix_login_session_revoked_at
_USER = "SELECT id, username, password_hash, scope, is_active FROM user_account WHERE username = $1"


class PostgresReader:
    def __init__(self, rotator: PostgresRotator) -> None:
        self._rotator = rotator  # its pool: opened on demand, closed with it

    async def live_rows(self, session_ids: Sequence[str]) -> list[LiveRow]:
        rows = await self._fetch(_LIVE, list(session_ids))
        return [tuple(r) for r in rows]  # the columns of LiveRow, in its order

    async def revoked_since(self, since: datetime) -> list[str]:
        return [str(r[0]) for r in await self._fetch(_REVOKED, since)]

    async def user_row(self, username: str) -> UserRow | None:
        rows = await self._fetch(_USER, username)
        return tuple(rows[0]) if rows else None  # UserRow's columns, in order

    async def close(self) -> None:
        """The pool is the rotator's, closed by it."""

    async def _fetch(self, query: str, arg: object) -> list[Any]:  # asyncpg Records
        try:
            pool = await self._rotator.pool()
            rows: list[Any] = await pool.fetch(query, arg)
            return rows
        except Exception as exc:
            if unavailable(exc):
                raise ServiceUnavailable() from None
            raise
