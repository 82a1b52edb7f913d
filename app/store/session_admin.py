"""Sessions as their owners and admins see them: list, end one, end all, and the account
changes that end every session with them (disable, delete, a new password).

Ending is revoking (the rows stay, so a replayed token is still recognised as reuse), and
every statement names the owner, so one user can never end another's session by id.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Update, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.store.tables import sessions, users

TOUCH_CHUNK = 500  # ids per statement, well under SQLite's bound parameters limit


@dataclass(frozen=True)
class SessionView:
    id: str
    client_id: str | None
    created_at: datetime
    last_refreshed_at: datetime | None
    last_used_at: datetime | None
    expires_at: datetime
    idle_expires_at: datetime
    user_agent: str | None
    ip: str | None


def _live(now: datetime):  # type: ignore[no-untyped-def]
    return (
        sessions.c.revoked_at.is_(None),
        sessions.c.expires_at > now,
        sessions.c.idle_expires_at > now,
    )


def _ending(user_id: int, now: datetime, reason: str, keep: str | None = None) -> Update:
    """Revoke every unrevoked session of the user, but `keep`."""
    stmt = (
        update(sessions)
        .where(sessions.c.user_id == user_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    return stmt if keep is None else stmt.where(sessions.c.id != keep)


class SqlSessionAdmin:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def list_live(
        self, user_id: int, now: datetime, *, limit: int | None = None, after: tuple[datetime, str] | None = None,
    ) -> list[SessionView]:
        """Newest first, by (created_at, id); `after` is the last (created_at, id) of the
        previous page: keyset paging, each page one index range however deep."""
        query = (
            select(
                sessions.c.id, sessions.c.client_id, sessions.c.created_at, sessions.c.last_refreshed_at,
                sessions.c.last_used_at, sessions.c.expires_at, sessions.c.idle_expires_at,
                sessions.c.user_agent, sessions.c.ip,
            )
            .where(sessions.c.user_id == user_id, *_live(now))
            .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
        )
        if after is not None:
            created, last_id = after
            query = query.where(or_(
                sessions.c.created_at < created, and_(sessions.c.created_at == created, sessions.c.id < last_id),
            ))
        if limit is not None:
            query = query.limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [SessionView(**row) for row in rows]

    async def end(self, user_id: int, session_id: str, now: datetime, reason: str) -> bool:
        """False when no live session of this user has that id (another user's included)."""
        stmt = (
            update(sessions)
            .where(sessions.c.id == session_id, sessions.c.user_id == user_id, *_live(now))
            .values(revoked_at=now, revoked_reason=reason)
        )
        async with write_connection(self._engine) as conn, conn.begin():
            return bool((await conn.execute(stmt)).rowcount)

    async def end_all(self, user_id: int, now: datetime, reason: str, *, keep: str | None = None) -> int:
        async with write_connection(self._engine) as conn, conn.begin():
            return int((await conn.execute(_ending(user_id, now, reason, keep))).rowcount or 0)

    async def disable_user(self, user_id: int, now: datetime) -> int:
        """Disable and end every session in one transaction: no window in which a
        disabled user still holds a live session."""
        return await self._change_ending_sessions(user_id, {"is_active": False}, now, "user_disabled")

    async def delete_user(self, user_id: int, tombstone: str, now: datetime) -> int:
        """The account becomes a tombstone (app.db.models.User) and every session ends,
        in one transaction; the name is free for a new account."""
        values = {"username": tombstone, "password_hash": "!", "scope": "", "is_active": False, "deleted_at": now}
        return await self._change_ending_sessions(user_id, values, now, "user_deleted")

    async def replace_password(
        self, user_id: int, password_hash: str, now: datetime, reason: str, *, keep: str | None = None
    ) -> int:
        """The new hash and the end of every session but `keep`, in one transaction: no
        session opened with the old password outlives it."""
        return await self._change_ending_sessions(user_id, {"password_hash": password_hash}, now, reason, keep=keep)

    async def _change_ending_sessions(
        self, user_id: int, values: dict[str, object], now: datetime, reason: str, *, keep: str | None = None
    ) -> int:
        async with write_connection(self._engine) as conn, conn.begin():
            await conn.execute(update(users).where(users.c.id == user_id).values(values))
            result = await conn.execute(_ending(user_id, now, reason, keep))
        return int(result.rowcount or 0)

    async def touch_many(self, session_ids: list[str], at: datetime) -> None:
        """last_used_at of many sessions, in one transaction of one UPDATE per chunk."""
        async with write_connection(self._engine) as conn, conn.begin():
            for start in range(0, len(session_ids), TOUCH_CHUNK):
                chunk = session_ids[start:start + TOUCH_CHUNK]
                await conn.execute(update(sessions).where(sessions.c.id.in_(chunk)).values(last_used_at=at))

    async def count_live(self, now: datetime) -> int:
        query = select(func.count()).select_from(sessions).where(*_live(now))
        async with self._engine.connect() as conn:
            return int((await conn.execute(query)).scalar_one())
