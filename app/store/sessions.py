"""Login sessions and their refresh tokens.

Rotation is a compare-and-set: one `UPDATE … WHERE token_hash = :h AND used_at IS NULL`
decides the single winner among concurrent refreshes (PostgreSQL re-checks the WHERE
after waiting on the row lock; SQLite serialises writers with BEGIN IMMEDIATE). The
successor is inserted in the same transaction, so a failed commit leaves the presented
token unused: a database error never burns a token.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from app.db.engine import write_connection
from app.store.audit import AuditRecord
from app.store.rotation import FastRotator, NewSession, Rotation
from app.store.session_info import SessionInfo
from app.store.reuse import STRICT, ReusePolicy, Verdict, diagnose, revoke
from app.store.tables import clients, events, sessions, tokens, users


@dataclass(frozen=True)
class LiveSession:
    id: str
    user_id: int
    username: str
    scope: str
    ends_at: datetime | None = None  # the earlier of the absolute and the idle end


class RotateFailure(enum.Enum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"  # idle: the refresh token lapsed unused
    SESSION_EXPIRED = "session_expired"  # absolute: the session's maximum lifetime passed
    REUSED = "reused"
    ENDED = "ended"
    SCOPE = "scope"  # a refresh asked for more than the session was granted
    CLIENT = "client"  # the session belongs to a registered client other than the caller


@dataclass(frozen=True)
class RotateOutcome:
    session: SessionInfo | None = None
    failure: RotateFailure | None = None
    session_id: str | None = None  # of a failed rotation, for the audit trail
    sealed_pair: str | None = None  # a grace-period retry: the same pair, encrypted
    reported: bool = False  # reuse in report mode: refused, session kept


Sealer = Callable[[SessionInfo], str]


class SessionStore(Protocol):
    async def create(
        self, *, session_id: str, user_id: int, username: str, scope: str, client_id: str | None,
        now: datetime, expires_at: datetime, refresh_hash: str, refresh_expires_at: datetime,
        user_agent: str | None = None, ip: str | None = None, audit: AuditRecord | None = None,
    ) -> SessionInfo: ...

    async def rotate(
        self, *, token_hash: str, successor_hash: str, now: datetime, refresh_lifetime: timedelta,
        narrow_to: list[str] | None = None, client_id: str | None = None,
        policy: ReusePolicy = STRICT, seal: Sealer | None = None, audit: AuditRecord | None = None,
    ) -> RotateOutcome: ...

    async def session_of_refresh(self, token_hash: str) -> str | None: ...

    async def exists(self, session_id: str) -> bool: ...

    async def revoke(self, session_id: str, now: datetime, reason: str) -> bool: ...

    async def live(self, session_id: str, now: datetime) -> LiveSession | None: ...

    def cached(self, session_id: str, now: datetime) -> LiveSession | None:
        """`live`'s answer when it is at hand without a read (a cache hit); None: ask `live`."""
        ...


class SessionReads(Protocol):
    """The hot reads in one driver call (app.store.reads): the cache's rows as
    `live_many`'s query returns them, the revocation feed, and a login's user."""

    async def live_rows(self, session_ids: Sequence[str]) -> list[LiveRow]: ...

    async def user_row(self, username: str) -> UserRow | None: ...

    async def revoked_since(self, since: datetime) -> list[str]: ...

    async def close(self) -> None: ...


# id, username, password_hash, scope, is_active: app.store.users.UserRecord's fields
UserRow = tuple[int, str, str, "str | None", bool]
# id, user_id, scope, username, is_active, revoked_at, expires_at, idle_expires_at
LiveRow = tuple[str, int, "str | None", str, bool, "datetime | None", datetime, datetime]


class SqlSessionStore:
    def __init__(self, engine: AsyncEngine, fast: FastRotator | None = None, reads: SessionReads | None = None) -> None:
        self._engine = engine
        self._fast = fast
        self._reads = reads

    async def create(
        self, *, session_id: str, user_id: int, username: str, scope: str, client_id: str | None,
        now: datetime, expires_at: datetime, refresh_hash: str, refresh_expires_at: datetime,
        user_agent: str | None = None, ip: str | None = None, audit: AuditRecord | None = None,
    ) -> SessionInfo:
        """The session, its first refresh token and `audit` (completed with the ids) in one
        transaction; on the driver path (app.store.rotation) when one is given."""
        user_agent = (user_agent or None) and user_agent[:512]
        if audit is not None:
            audit = replace(audit, user_id=user_id, session_id=session_id)
        if self._fast is not None:
            await self._fast.start(NewSession(
                session_id, user_id, scope, client_id, now, expires_at, refresh_hash, refresh_expires_at,
                user_agent, ip, audit,
            ))
        else:
            async with write_connection(self._engine) as conn, conn.begin():
                await conn.execute(
                    insert(sessions).values(
                        id=session_id, user_id=user_id, scope=scope, client_id=client_id,
                        created_at=now, expires_at=expires_at, idle_expires_at=refresh_expires_at,
                        user_agent=user_agent, ip=ip,
                    )
                )
                await conn.execute(
                    insert(tokens).values(
                        token_hash=refresh_hash, session_id=session_id,
                        issued_at=now, expires_at=refresh_expires_at,
                    )
                )
                if audit is not None:
                    await conn.execute(insert(events).values(**asdict(audit)))
        return SessionInfo(session_id, user_id, username, scope, client_id, expires_at, refresh_expires_at)

    async def rotate(
        self, *, token_hash: str, successor_hash: str, now: datetime, refresh_lifetime: timedelta,
        narrow_to: list[str] | None = None, client_id: str | None = None,
        policy: ReusePolicy = STRICT, seal: Sealer | None = None, audit: AuditRecord | None = None,
    ) -> RotateOutcome:
        """`narrow_to` and the client binding are checked inside the transaction, so a
        refresh that asks for too much scope, or comes from the wrong client, is refused
        without spending the token. `seal` (grace period on) returns the new pair
        encrypted; it is kept on the spent token's row for a retry (app.store.reuse).
        `audit` is appended in the same transaction, completed with the session's ids.
        The winning path runs on the driver (app.store.rotation) when one is given; this
        path decides every other case."""
        if self._fast is not None:
            request = Rotation(token_hash, successor_hash, now, refresh_lifetime, narrow_to, client_id, audit)
            claimed = await self._fast.rotate(request, seal)
            if claimed is not None:
                return RotateOutcome(session=claimed)
        # correlated (one lookup by id), not `session_id IN (live sessions)`, which
        # SQLite evaluates by listing every live session (see rotation_sqlite)
        session_live = (
            select(sessions.c.id)
            .where(sessions.c.id == tokens.c.session_id, sessions.c.revoked_at.is_(None), sessions.c.expires_at > now)
            .exists()
        )
        claim = (
            update(tokens)
            .where(
                tokens.c.token_hash == token_hash,
                tokens.c.used_at.is_(None),
                tokens.c.expires_at > now,
                session_live,
            )
            .values(used_at=now)
            .returning(tokens.c.session_id)
        )
        async with write_connection(self._engine) as conn:
            async with conn.begin() as tx:
                session_id = (await conn.execute(claim)).scalar_one_or_none()
                if session_id is not None:
                    info = await self._session_info(conn, session_id)
                    if info is None:  # the user was disabled: nothing changes
                        await tx.rollback()
                        return RotateOutcome(failure=RotateFailure.ENDED)
                    if narrow_to is not None and not set(narrow_to) <= set(info.scope.split()):
                        await tx.rollback()
                        return RotateOutcome(failure=RotateFailure.SCOPE)
                    if not await _client_may_refresh(conn, info.client_id, client_id):
                        await tx.rollback()
                        return RotateOutcome(failure=RotateFailure.CLIENT)
                    refresh_expires_at = min(now + refresh_lifetime, info.expires_at)
                    await conn.execute(
                        insert(tokens).values(
                            token_hash=successor_hash, session_id=session_id,
                            issued_at=now, expires_at=refresh_expires_at,
                        )
                    )
                    await conn.execute(
                        update(sessions)
                        .where(sessions.c.id == session_id)
                        .values(last_refreshed_at=now, idle_expires_at=refresh_expires_at)
                    )
                    fresh = SessionInfo(
                        info.id, info.user_id, info.username, info.scope, info.client_id,
                        info.expires_at, refresh_expires_at,
                    )
                    if seal is not None:
                        await conn.execute(
                            update(tokens)
                            .where(tokens.c.token_hash == token_hash)
                            .values(successor_hash=successor_hash, successor_pair=seal(fresh))
                        )
                    if audit is not None:
                        await conn.execute(insert(events).values(**asdict(replace(
                            audit, user_id=info.user_id, username=info.username, session_id=info.id,
                        ))))
                    return RotateOutcome(session=fresh)
            found = await diagnose(conn, token_hash, now, policy)
        return RotateOutcome(
            failure=_FAILURES.get(found.verdict), session_id=found.session_id,
            sealed_pair=found.sealed_pair, reported=found.verdict is Verdict.REPORTED,
        )

    async def _session_info(self, conn: AsyncConnection, session_id: str) -> SessionInfo | None:
        query = (
            select(sessions, users.c.username)
            .join(users, users.c.id == sessions.c.user_id)
            .where(sessions.c.id == session_id, users.c.is_active.is_(True))
        )
        row = (await conn.execute(query)).mappings().first()
        if row is None:
            return None
        return SessionInfo(
            row["id"], row["user_id"], row["username"], row["scope"] or "", row["client_id"],
            row["expires_at"], row["idle_expires_at"],
        )

    async def session_of_refresh(self, token_hash: str) -> str | None:
        query = select(tokens.c.session_id).where(tokens.c.token_hash == token_hash)
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).scalar_one_or_none()

    async def exists(self, session_id: str) -> bool:
        query = select(sessions.c.id).where(sessions.c.id == session_id)
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    async def revoke(self, session_id: str, now: datetime, reason: str) -> bool:
        async with write_connection(self._engine) as conn, conn.begin():
            return await revoke(conn, session_id, now, reason)

    async def revoked_since(self, since: datetime) -> list[str]:
        """Sessions revoked at or after `since` (logout, reuse, admin, a disabled user):
        the revocation feed of app.oauth.session_cache."""
        if self._reads is not None:
            return await self._reads.revoked_since(since)
        query = select(sessions.c.id).where(sessions.c.revoked_at >= since)  # ix_login_session_revoked_at
        async with self._engine.connect() as conn:
            return list((await conn.execute(query)).scalars())

    async def live(self, session_id: str, now: datetime) -> LiveSession | None:
        """The per-request check that makes logout immediate."""
        return (await self.live_many([session_id], now)).get(session_id)

    def cached(self, session_id: str, now: datetime) -> LiveSession | None:
        return None  # no cache here: every answer is a read (app.oauth.session_cache has one)

    async def live_many(self, session_ids: Sequence[str], now: datetime) -> dict[str, LiveSession]:
        """`live` for several sessions in one query (the cache's misses of one moment):
        the live ones by id; an id left out is unknown, ended or its user disabled.

        The query selects by primary key alone and the rest is checked here: given
        `revoked_at IS NULL` and a list of eight or more ids, SQLite's planner (no
        statistics: the server never ANALYZEs) walks the revoked_at index instead, that
        is every live session: ~1 ms per session read at 100,000 (bench/README.md).
        Where there is a driver path the same query is one driver call (app.store.reads)."""
        if self._reads is not None:
            rows: Sequence[Any] = await self._reads.live_rows(session_ids)
        else:
            query = (
                select(
                    sessions.c.id, sessions.c.user_id, sessions.c.scope, users.c.username, users.c.is_active,
                    sessions.c.revoked_at, sessions.c.expires_at, sessions.c.idle_expires_at,
                )
                .join(users, users.c.id == sessions.c.user_id)
                .where(sessions.c.id.in_(session_ids))
            )
            async with self._engine.connect() as conn:
                rows = (await conn.execute(query)).all()
        return {
            sid: LiveSession(sid, user_id, username, scope or "", min(expires_at, idle_expires_at))
            for sid, user_id, scope, username, active, revoked_at, expires_at, idle_expires_at in rows
            if revoked_at is None and expires_at > now and idle_expires_at > now and active
        }


async def _client_may_refresh(conn: AsyncConnection, owner: str | None, caller: str | None) -> bool:
    """RFC 6749 §6: a refresh token issued to a registered client is bound to it. Sessions
    of anonymous or unregistered clients (the contract's public clients) are not."""
    if owner is None or owner == caller:
        return True
    registered = await conn.execute(select(clients.c.client_id).where(clients.c.client_id == owner))
    return registered.first() is None


_FAILURES = {
    Verdict.UNKNOWN: RotateFailure.UNKNOWN,
    Verdict.EXPIRED: RotateFailure.EXPIRED,
    Verdict.SESSION_EXPIRED: RotateFailure.SESSION_EXPIRED,
    Verdict.ENDED: RotateFailure.ENDED,
    Verdict.REUSED: RotateFailure.REUSED,
    Verdict.REPORTED: RotateFailure.REUSED,
}
