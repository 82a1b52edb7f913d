"""The driver path on PostgreSQL (app.store.rotation): one statement per rotation, new
session or login-counter hit, its parts chained by data-modifying CTEs, so it commits
whole or not at all."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from app.db.engine import sqlstate_unavailable
from app.errors import ServiceUnavailable
from app.store.rotation import NewSession, Rotation, Seal
from app.store.session_info import SessionInfo


# app.store.attempts.SqlAttemptStore.hit's upserts, every bucket in one statement (a
# bucket named twice would be an error: the buckets are distinct)
_PG_HIT = """
INSERT INTO login_attempt (bucket, window_start, count)
SELECT name, $2, 1 FROM unnest($1::varchar[]) AS name
ON CONFLICT (bucket, window_start) DO UPDATE SET count = login_attempt.count + 1
RETURNING bucket, count
"""

_PG_CLAIM = """
WITH claimed AS (
    UPDATE refresh_token AS t SET used_at = $1
    FROM login_session AS s, user_account AS u
    WHERE t.token_hash = $2 AND t.used_at IS NULL AND t.expires_at > $1
      AND s.id = t.session_id AND s.revoked_at IS NULL AND s.expires_at > $1
      AND u.id = s.user_id AND u.is_active
      AND ($4::text[] IS NULL OR string_to_array(coalesce(s.scope, ''), ' ') @> $4::text[])
      AND (s.client_id IS NULL OR s.client_id = $5
           OR NOT EXISTS (SELECT 1 FROM oauth_client AS c WHERE c.client_id = s.client_id))
    RETURNING t.session_id, s.user_id, u.username, s.scope, s.client_id, s.expires_at,
              LEAST($1 + $3::interval, s.expires_at) AS refresh_expires_at
), successor AS (
    INSERT INTO refresh_token (token_hash, session_id, issued_at, expires_at)
    SELECT $6, session_id, $1, refresh_expires_at FROM claimed
), touched AS (
    UPDATE login_session AS s SET last_refreshed_at = $1, idle_expires_at = c.refresh_expires_at
    FROM claimed AS c WHERE s.id = c.session_id
)
{audit}
SELECT session_id, user_id, username, scope, client_id, expires_at, refresh_expires_at FROM claimed
"""
_PG_AUDIT = """, audited AS (
    INSERT INTO audit_event (at, event, user_id, username, session_id, client_id, ip, user_agent, detail)
    SELECT $7, $8, user_id, username, session_id, $9, $10, $11, $12 FROM claimed
)"""
_PG_SEALED = "UPDATE refresh_token SET successor_hash = $1, successor_pair = $2 WHERE token_hash = $3"
_PG_START = """
WITH session AS (
    INSERT INTO login_session (id, user_id, scope, client_id, created_at, expires_at, idle_expires_at, user_agent, ip)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
    RETURNING id
), token AS (
    INSERT INTO refresh_token (token_hash, session_id, issued_at, expires_at)
    SELECT $10, id, $5, $7 FROM session
)
{audit}
SELECT id FROM session
"""
_PG_START_AUDIT = """, audited AS (
    INSERT INTO audit_event (at, event, user_id, username, session_id, client_id, ip, user_agent, detail)
    SELECT $11, $12, $2, $13, id, $14, $15, $16, $17 FROM session
)"""


class PostgresRotator:
    """Its own asyncpg pool (at most `pool_size` connections per process, opened on
    demand): SQLAlchemy's checkout pre-pings each connection with three round trips,
    more than the rotation itself. A connection that died is found by the statement that
    uses it; asyncpg's pool replaces it, and the caller gets a 503 for that request."""

    def __init__(self, connect_args: tuple[Any, ...], connect_kwargs: dict[str, Any], pool_size: int) -> None:
        self._args = connect_args
        self._kwargs = connect_kwargs
        self._size = pool_size
        self._pool: Any = None
        self._opening = asyncio.Lock()

    async def start(self, session: NewSession) -> None:
        n, a = session, session.audit
        params: list[Any] = [n.session_id, n.user_id, n.scope, n.client_id, n.now, n.expires_at,
                             n.refresh_expires_at, n.user_agent, n.ip, n.refresh_hash]
        if a is not None:
            params += [a.at, a.event, a.username, a.client_id, a.ip, a.user_agent, a.detail]
        query = _PG_START.format(audit=_PG_START_AUDIT if a is not None else "")
        try:
            pool = await self.pool()
            async with pool.acquire() as conn:
                await conn.fetchval(query, *params)
        except Exception as exc:
            if unavailable(exc):
                raise ServiceUnavailable() from None
            raise

    async def hit(self, buckets: Sequence[str], window_start: datetime) -> list[int]:
        try:
            pool = await self.pool()
            rows = await pool.fetch(_PG_HIT, list(buckets), window_start)
        except Exception as exc:
            if unavailable(exc):
                raise ServiceUnavailable() from None
            raise
        counts = {row[0]: int(row[1]) for row in rows}
        return [counts[name] for name in buckets]

    async def rotate(self, rotation: Rotation, seal: Seal | None) -> SessionInfo | None:
        r, a = rotation, rotation.audit
        params: list[Any] = [r.now, r.token_hash, r.refresh_lifetime, r.narrow_to, r.client_id, r.successor_hash]
        if a is not None:
            params += [a.at, a.event, a.client_id, a.ip, a.user_agent, a.detail]
        query = _PG_CLAIM.format(audit=_PG_AUDIT if a is not None else "")
        try:
            pool = await self.pool()
            async with pool.acquire() as conn:
                if seal is None:
                    return _claimed(await conn.fetchrow(query, *params))
                async with conn.transaction():
                    claimed = _claimed(await conn.fetchrow(query, *params))
                    if claimed is not None:
                        await conn.execute(_PG_SEALED, r.successor_hash, seal(claimed), r.token_hash)
                    return claimed
        except Exception as exc:
            if unavailable(exc):
                raise ServiceUnavailable() from None
            raise

    async def pool(self) -> Any:
        """Opened at first use (also by app.store.reads_postgres)."""
        if self._pool is None:
            async with self._opening:
                if self._pool is None:
                    self._pool = await asyncpg.create_pool(
                        *self._args, min_size=0, max_size=self._size, reset=_no_reset, **self._kwargs
                    )
        return self._pool

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


def unavailable(exc: Exception) -> bool:
    """The same rule as the API's (app.api.errors.database_unavailable), in asyncpg's terms."""
    if isinstance(exc, (OSError, TimeoutError, asyncpg.InterfaceError)):
        return True
    return isinstance(exc, asyncpg.PostgresError) and sqlstate_unavailable(exc.sqlstate)


async def _no_reset(_: Any) -> None:
    """The pool's default reset is a round trip per release (RESET ALL, UNLISTEN …) for
    state these statements never set; an open transaction is still rolled back."""


def _claimed(row: Any) -> SessionInfo | None:
    if row is None:
        return None
    return SessionInfo(
        row["session_id"], row["user_id"], row["username"], row["scope"] or "", row["client_id"],
        row["expires_at"], row["refresh_expires_at"],
    )
