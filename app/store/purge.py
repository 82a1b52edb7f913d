"""Housekeeping: delete what can no longer matter, in small batches.

A session that ended (revoked, past its absolute end, or idle past its last refresh
token) more than the retention ago is deleted with its refresh tokens; until then its
rows stay, so a replayed old token is still recognised as reuse. Batches keep each
transaction short, so purging a million rows never holds locks that stall logins.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, delete, or_, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.store.tables import attempts, backoff, sessions, tokens


class SqlPurger:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def purge_sessions(self, cutoff: datetime, batch_size: int = 1000) -> int:
        """Deletes sessions that ended before `cutoff`; returns how many."""
        ended = or_(
            sessions.c.revoked_at < cutoff,
            sessions.c.expires_at < cutoff,
            sessions.c.idle_expires_at < cutoff,
        )
        total = 0
        while True:
            batch = select(sessions.c.id).where(ended).limit(batch_size)
            async with write_connection(self._engine) as conn, conn.begin():
                ids = list((await conn.execute(batch)).scalars())
                if ids:
                    await conn.execute(delete(tokens).where(tokens.c.session_id.in_(ids)))
                    await conn.execute(delete(sessions).where(sessions.c.id.in_(ids)))
            total += len(ids)
            if len(ids) < batch_size:
                return total

    async def purge_attempts(self, cutoff: datetime) -> int:
        async with write_connection(self._engine) as conn, conn.begin():
            result = await conn.execute(delete(attempts).where(attempts.c.window_start < cutoff))
        return int(result.rowcount or 0)

    async def purge_backoff(self, cutoff: datetime) -> int:
        """Back-off rows with no failure and no success since `cutoff`."""
        quiet = and_(
            or_(backoff.c.failed_at.is_(None), backoff.c.failed_at < cutoff),
            or_(backoff.c.succeeded_at.is_(None), backoff.c.succeeded_at < cutoff),
        )
        async with write_connection(self._engine) as conn, conn.begin():
            result = await conn.execute(delete(backoff).where(quiet))
        return int(result.rowcount or 0)
