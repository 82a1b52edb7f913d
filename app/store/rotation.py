"""The refresh grant's winning path (and a login's new session and rate-limit counters),
one round trip at the driver.

A refresh that succeeds is the server's busiest write. Through SQLAlchemy's async layer
it cost six statements, each several thread hops (aiosqlite) or protocol round trips
(asyncpg), plus a pre-ping: about 5 ms of CPU, against 0.2–0.6 ms for the same work on
the bare driver (bench/README.md). So the winning path goes to the driver directly:

- SQLite: every rotation of this process runs in one dedicated thread on its own
  `sqlite3` connection, start to COMMIT in one hop, so writers of one process queue in
  memory instead of in SQLite's busy handler; those that queue together commit together
  (one transaction, a savepoint each).
- PostgreSQL: one statement with data-modifying CTEs (claim the token, insert the
  successor, move the session's idle end, append the audit row) on a small asyncpg
  pool. A single statement is its own transaction: it commits whole or not at all.

Both claim with the same compare-and-set as `SqlSessionStore.rotate` and check
everything it checks (live session, active user, scope, client binding). Anything
else — a refresh that loses or is refused — returns None, and the caller takes the
SQLAlchemy path, which says why and applies the reuse policy. A database that cannot
be reached raises ServiceUnavailable, with nothing committed. The two drivers' code
lives in app.store.rotation_sqlite and app.store.rotation_postgres.

A login's counters (`hit`, app.store.attempts) take the same path for the same reason:
through the engine their two upserts were ~11 waits for the event loop per login.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import asyncpg_connect_args
from app.settings import Settings
from app.store.audit import AuditRecord
from app.store.session_info import SessionInfo

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

    async def hit(self, buckets: Sequence[str], window_start: datetime) -> list[int]:
        """Login counters (app.store.attempts): one more attempt in each of the distinct
        `buckets`, committed together; their counts after it, in order."""
        ...

    async def close(self) -> None: ...


def scope_ok(scope: str, narrow_to: list[str] | None) -> bool:
    return narrow_to is None or set(narrow_to) <= set(scope.split())


def make_rotator(settings: Settings, engine: AsyncEngine) -> FastRotator | None:
    """None where the driver path cannot share the engine's database: an in-memory
    SQLite exists only inside the engine's own connections."""
    url = engine.url
    if settings.is_sqlite:
        path = url.database or ""
        if not path or path == ":memory:" or url.query.get("mode") == "memory":
            return None
        from app.store.rotation_sqlite import SqliteRotator  # here: it imports this module

        return SqliteRotator(path, settings.sqlite_busy_timeout_ms)
    from app.store.rotation_postgres import PostgresRotator  # here: it imports this module

    args, kwargs = engine.dialect.create_connect_args(url)
    kwargs.update(asyncpg_connect_args(settings))
    return PostgresRotator(tuple(args), dict(kwargs), settings.db_pool_size)
