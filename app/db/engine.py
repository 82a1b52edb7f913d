"""Async engines tuned per backend.

SQLite: WAL so readers never block the writer, a busy timeout so writers queue instead of
failing, and `BEGIN IMMEDIATE` for write transactions: a deferred transaction that reads
and then writes can deadlock against another one and fail with "database is locked" no
matter the timeout, while IMMEDIATE takes the write lock up front and just waits its turn.
Read-only work keeps plain (deferred) transactions so it never queues behind writers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar
from uuid import uuid4

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from app.settings import Settings

T = TypeVar("T")
log = logging.getLogger("app.db")
WRITE = {"sqlite_write": True}  # execution option asking for BEGIN IMMEDIATE
# PostgreSQL's word that it cannot serve now (a 503, not a bug), whichever driver class
# carries it: SQLSTATE classes 08 connection exception, 53 insufficient resources (too
# many connections, out of memory or disk), 57 operator intervention (shutting down,
# starting up, cancelled). Used by the API's error handlers and the asyncpg driver path.
UNAVAILABLE_SQLSTATE_CLASSES = frozenset({"08", "53", "57"})


def sqlstate_unavailable(code: object) -> bool:
    return isinstance(code, str) and code[:2] in UNAVAILABLE_SQLSTATE_CLASSES


def sqlite_file(database_url: str) -> str | None:
    """The file a SQLite URL names (`sqlite:///./a.db` → `./a.db`), None for an in-memory
    database or another backend."""
    if not database_url.startswith("sqlite") or ":///" not in database_url:
        return None
    path = database_url.split(":///", 1)[1]
    if not path or path.startswith(":memory:") or "mode=memory" in path:
        return None
    return path.split("?", 1)[0]


def private_sqlite_file(database_url: str) -> None:
    """A SQLite database holds password hashes, sessions and, in development, the signing
    secret: it is created readable by its owner alone (its -wal and -shm files take the
    same mode from it), and an existing one readable by others is reported, loudly."""
    path = sqlite_file(database_url)
    if path is None:
        return
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
        return
    except FileExistsError:
        pass
    except OSError:
        return  # its folder is missing or not ours: SQLite will say so
    mode = os.stat(path).st_mode
    if mode & 0o077:
        log.warning(
            "DATABASE_URL: %s is readable by other users (mode %o): they can read password hashes "
            "and, in development, the signing secret; run chmod 600 on it and its -wal and -shm files",
            path, stat.S_IMODE(mode),
        )


def make_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if settings.is_sqlite:
        private_sqlite_file(url)
        return sqlite_engine(url, settings.sqlite_busy_timeout_ms)
    return create_async_engine(
        url,
        pool_pre_ping=True,  # a connection that died with the database is replaced, not used
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_connect_timeout_seconds,
        connect_args=_asyncpg_args(settings),
    )


def _asyncpg_args(settings: Settings) -> dict[str, Any]:
    """Timeouts so that an unreachable or silent database becomes a 503, not a hang.
    DB_STATEMENT_CACHE_SIZE=0 is for PgBouncer in transaction mode: a server connection
    changes between transactions there, so no named prepared statement may outlive one."""
    args: dict[str, Any] = {}
    if settings.db_statement_cache_size == 0:
        args["prepared_statement_cache_size"] = 0
        args["prepared_statement_name_func"] = lambda: f"__asyncpg_{uuid4().hex}__"
    else:
        args["prepared_statement_cache_size"] = settings.db_statement_cache_size
    return {**args, **asyncpg_connect_args(settings)}


def asyncpg_connect_args(settings: Settings) -> dict[str, Any]:
    """What asyncpg.connect itself takes (the rest above is SQLAlchemy's adapter)."""
    args: dict[str, Any] = {
        "timeout": settings.db_connect_timeout_seconds,
        "command_timeout": settings.db_command_timeout_seconds,
    }
    if settings.db_statement_cache_size == 0:
        args["statement_cache_size"] = 0
    return args


def sqlite_engine(url: str, busy_timeout_ms: int) -> AsyncEngine:
    memory = ":memory:" in url or url.endswith(":///") or "mode=memory" in url
    # isolation_level=None hands transaction control to the "begin" hook below.
    engine = create_async_engine(
        url, connect_args={"timeout": busy_timeout_ms / 1000, "isolation_level": None}
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        if not memory:
            cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("sqlite_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


@asynccontextmanager
async def write_connection(engine: AsyncEngine) -> AsyncIterator[AsyncConnection]:
    """A connection whose transactions take SQLite's write lock up front (a no-op option
    elsewhere). Every store method that writes starts here."""
    async with engine.connect() as conn:
        await conn.execution_options(**WRITE)
        yield conn


def run_with_engine(settings: Settings, action: Callable[[AsyncEngine], Awaitable[T]]) -> T:
    """For the CLI: one engine for one command, always disposed (asyncpg connections
    left open at interpreter exit print warnings)."""

    async def go() -> T:
        engine = make_engine(settings)
        try:
            return await action(engine)
        finally:
            await engine.dispose()

    return asyncio.run(go())
