"""The refresh grant's winning path (and a login's new session), one round trip at the driver.

A refresh that succeeds is the server's busiest write. Through SQLAlchemy's async layer
it cost six statements, each several thread hops (aiosqlite) or protocol round trips
(asyncpg), plus a pre-ping: about 5 ms of CPU, against 0.2–0.6 ms for the same work on
the bare driver (bench/README.md). So the winning path goes to the driver directly:

- SQLite: every rotation of this process runs in one dedicated thread on its own
  `sqlite3` connection, start to COMMIT in one hop, so writers of one process queue in
  memory instead of in SQLite's busy handler.
- PostgreSQL: one statement with data-modifying CTEs (claim the token, insert the
  successor, move the session's idle end, append the audit row) on a small asyncpg
  pool. A single statement is its own transaction: it commits whole or not at all.

Both claim with the same compare-and-set as `SqlSessionStore.rotate` and check
everything it checks (live session, active user, scope, client binding). Anything
else — a refresh that loses or is refused — returns None, and the caller takes the
SQLAlchemy path, which says why and applies the reuse policy. A database that cannot
be reached raises ServiceUnavailable, with nothing committed.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import asyncpg_connect_args
from app.errors import ServiceUnavailable
from app.settings import Settings
from app.store.audit import AuditRecord
from app.store.session_info import SessionInfo

T = TypeVar("T")
Seal = Callable[[SessionInfo], str]  # the new pair, encrypted for a grace-period retry


@dataclass(frozen=True)
class Rotation:
    token_hash: str
    successor_hash: str
    now: datetime
    refresh_lifetime: timedelta
    narrow_to: list[str] | None
    client_id: str | None  # the caller's
    audit: AuditRecord | None  # event, time and request context; the rest comes from the row


@dataclass(frozen=True)
class NewSession:
    session_id: str
    user_id: int
    scope: str
    client_id: str | None
    now: datetime
    expires_at: datetime
    refresh_hash: str
    refresh_expires_at: datetime
    user_agent: str | None
    ip: str | None
    audit: AuditRecord | None  # completed with the user and session ids


class FastRotator(Protocol):
    async def rotate(self, rotation: Rotation, seal: Seal | None) -> SessionInfo | None: ...

    async def start(self, session: NewSession) -> None: ...

    async def close(self) -> None: ...


def _scope_ok(scope: str, narrow_to: list[str] | None) -> bool:
    return narrow_to is None or set(narrow_to) <= set(scope.split())


# ---------------------------------------------------------------- SQLite


def _ts(moment: datetime) -> str:
    """SQLAlchemy's SQLite DATETIME text for a UTC instant (app.db.base.UtcDateTime), so
    rows written here compare and read back exactly like rows written through it."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")


def _from_ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


_SQLITE_CLAIM = """
UPDATE refresh_token SET used_at = ?
WHERE token_hash = ? AND used_at IS NULL AND expires_at > ?
  AND session_id IN (SELECT id FROM login_session WHERE revoked_at IS NULL AND expires_at > ?)
RETURNING session_id
"""
_SQLITE_SESSION = """
SELECT s.user_id, u.username, s.scope, s.client_id, s.expires_at,
       s.client_id IS NULL OR s.client_id = ?
         OR NOT EXISTS (SELECT 1 FROM oauth_client c WHERE c.client_id = s.client_id)
FROM login_session s JOIN user_account u ON u.id = s.user_id
WHERE s.id = ? AND u.is_active
"""
_SQLITE_TOKEN = "INSERT INTO refresh_token (token_hash, session_id, issued_at, expires_at) VALUES (?, ?, ?, ?)"
_SQLITE_TOUCH = "UPDATE login_session SET last_refreshed_at = ?, idle_expires_at = ? WHERE id = ?"
_SQLITE_SEALED = "UPDATE refresh_token SET successor_hash = ?, successor_pair = ? WHERE token_hash = ?"
_SQLITE_NEW_SESSION = (
    "INSERT INTO login_session (id, user_id, scope, client_id, created_at, expires_at, idle_expires_at, user_agent, ip)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_AUDIT = (
    "INSERT INTO audit_event (at, event, user_id, username, session_id, client_id, ip, user_agent, detail)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)"
)


class SqliteRotator:
    def __init__(self, path: str, busy_timeout_ms: int) -> None:
        self._path = path
        self._busy_timeout_ms = busy_timeout_ms
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-rotation")
        self._local = threading.local()

    async def rotate(self, rotation: Rotation, seal: Seal | None) -> SessionInfo | None:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._thread, self._rotate, rotation, seal)

    async def start(self, session: NewSession) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._start, session)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    def _connection(self) -> sqlite3.Connection:
        con: sqlite3.Connection | None = getattr(self._local, "con", None)
        if con is None:
            con = sqlite3.connect(self._path, timeout=self._busy_timeout_ms / 1000, isolation_level=None)
            for pragma in ("journal_mode=WAL", f"busy_timeout={int(self._busy_timeout_ms)}",
                           "foreign_keys=ON", "synchronous=NORMAL"):
                con.execute(f"PRAGMA {pragma}")
            self._local.con = con
        return con

    def _close(self) -> None:
        con = getattr(self._local, "con", None)
        if con is not None:
            con.close()
            self._local.con = None

    def _rotate(self, r: Rotation, seal: Seal | None) -> SessionInfo | None:
        return self._in_transaction(lambda con: self._claim(con, r, seal))

    def _start(self, n: NewSession) -> None:
        def insert(con: sqlite3.Connection) -> bool:
            now, refresh_end = _ts(n.now), _ts(n.refresh_expires_at)
            con.execute(_SQLITE_NEW_SESSION, (n.session_id, n.user_id, n.scope, n.client_id, now,
                                              _ts(n.expires_at), refresh_end, n.user_agent, n.ip))
            con.execute(_SQLITE_TOKEN, (n.refresh_hash, n.session_id, now, refresh_end))
            if n.audit is not None:
                a = n.audit
                con.execute(_AUDIT, (_ts(a.at), a.event, n.user_id, a.username, n.session_id,
                                     a.client_id, a.ip, a.user_agent, a.detail))
            return True

        self._in_transaction(insert)

    def _in_transaction(self, work: Callable[[sqlite3.Connection], T | None]) -> T | None:
        """`work` inside BEGIN IMMEDIATE … COMMIT; a None result rolls back. The database
        failing (locked past the busy timeout, I/O error) is a 503 with nothing committed,
        and the connection is opened afresh next time, as after a restore."""
        con = None
        try:
            con = self._connection()
            con.execute("BEGIN IMMEDIATE")
            result = work(con)
            con.execute("COMMIT" if result is not None else "ROLLBACK")
            return result
        except sqlite3.OperationalError:
            self._abandon(con)
            raise ServiceUnavailable() from None
        except BaseException:
            self._abandon(con, keep=True)
            raise

    def _abandon(self, con: sqlite3.Connection | None, *, keep: bool = False) -> None:
        if con is None:
            return
        try:
            con.rollback()  # nothing of the transaction stays
            if keep:
                return
            con.close()
        except sqlite3.Error:
            pass  # a connection that is gone has committed nothing either
        self._local.con = None

    def _claim(self, con: sqlite3.Connection, r: Rotation, seal: Seal | None) -> SessionInfo | None:
        now = _ts(r.now)
        row = con.execute(_SQLITE_CLAIM, (now, r.token_hash, now, now)).fetchone()
        if row is None:
            return None
        session_id = row[0]
        info = con.execute(_SQLITE_SESSION, (r.client_id, session_id)).fetchone()
        if info is None or not info[5] or not _scope_ok(info[2] or "", r.narrow_to):
            return None
        expires_at = _from_ts(info[4])
        refresh_expires_at = min(r.now + r.refresh_lifetime, expires_at)
        claimed = SessionInfo(session_id, info[0], info[1], info[2] or "", info[3], expires_at, refresh_expires_at)
        con.execute(_SQLITE_TOKEN, (r.successor_hash, session_id, now, _ts(refresh_expires_at)))
        con.execute(_SQLITE_TOUCH, (now, _ts(refresh_expires_at), session_id))
        if seal is not None:
            con.execute(_SQLITE_SEALED, (r.successor_hash, seal(claimed), r.token_hash))
        if r.audit is not None:
            a = r.audit
            con.execute(_AUDIT, (_ts(a.at), a.event, claimed.user_id, claimed.username, session_id,
                                 a.client_id, a.ip, a.user_agent, a.detail))
        return claimed


# ---------------------------------------------------------------- PostgreSQL

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
            pool = await self._open()
            async with pool.acquire() as conn:
                await conn.fetchval(query, *params)
        except _UNAVAILABLE:
            raise ServiceUnavailable() from None

    async def rotate(self, rotation: Rotation, seal: Seal | None) -> SessionInfo | None:
        r, a = rotation, rotation.audit
        params: list[Any] = [r.now, r.token_hash, r.refresh_lifetime, r.narrow_to, r.client_id, r.successor_hash]
        if a is not None:
            params += [a.at, a.event, a.client_id, a.ip, a.user_agent, a.detail]
        query = _PG_CLAIM.format(audit=_PG_AUDIT if a is not None else "")
        try:
            pool = await self._open()
            async with pool.acquire() as conn:
                if seal is None:
                    return _claimed(await conn.fetchrow(query, *params))
                async with conn.transaction():
                    claimed = _claimed(await conn.fetchrow(query, *params))
                    if claimed is not None:
                        await conn.execute(_PG_SEALED, r.successor_hash, seal(claimed), r.token_hash)
                    return claimed
        except _UNAVAILABLE:
            raise ServiceUnavailable() from None

    async def _open(self) -> Any:
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


_UNAVAILABLE = (
    OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
    asyncpg.exceptions.OperatorInterventionError, asyncpg.exceptions.InsufficientResourcesError,
)


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


def make_rotator(settings: Settings, engine: AsyncEngine) -> FastRotator | None:
    """None where the driver path cannot share the engine's database: an in-memory
    SQLite exists only inside the engine's own connections."""
    url = engine.url
    if settings.is_sqlite:
        path = url.database or ""
        if not path or path == ":memory:" or url.query.get("mode") == "memory":
            return None
        return SqliteRotator(path, settings.sqlite_busy_timeout_ms)
    args, kwargs = engine.dialect.create_connect_args(url)
    kwargs.update(asyncpg_connect_args(settings))
    return PostgresRotator(tuple(args), dict(kwargs), settings.db_pool_size)
