"""Scratch databases: SQLite files in the run directory, PostgreSQL databases created per
configuration and always dropped again (also those a crashed earlier run left behind,
recognisable by their prefix), plus issue 3's bulk-loaded sessions.
"""

from __future__ import annotations

import asyncio
import atexit
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PREFIX = "authbench_"
T = TypeVar("T")
_created: list[str] = []


def _run(fn: Callable[[asyncpg.Connection], Awaitable[T]], url: str = PG_ADMIN) -> T:
    async def go() -> T:
        conn = await asyncpg.connect(url)
        try:
            return await fn(conn)
        finally:
            await conn.close()
    return asyncio.run(go())


def pg_url(name: str) -> str:
    return PG_ADMIN.rsplit("/", 1)[0] + "/" + name


def pg_available() -> bool:
    try:
        _run(lambda c: c.fetchval("SELECT 1"))
        return True
    except (OSError, asyncpg.PostgresError):
        return False


def create_pg(name: str) -> str:
    """A fresh database named PREFIX + name; returns its plain postgresql:// URL."""
    full = PREFIX + name
    if not _created:
        atexit.register(drop_all)
    _run(lambda c: c.execute(f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)'))
    _run(lambda c: c.execute(f'CREATE DATABASE "{full}"'))
    _created.append(full)
    return pg_url(full)


def drop_all() -> None:
    """Every database of ours: this run's and any an interrupted run left behind."""
    async def go(c: asyncpg.Connection) -> None:
        names = await c.fetch("SELECT datname FROM pg_database WHERE datname LIKE $1", PREFIX + "%")
        for row in names:
            await c.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')
    try:
        _run(go)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"warning: could not drop scratch databases: {exc}")
    _created.clear()


BULK_SESSIONS = """
INSERT INTO login_session (id, user_id, scope, client_id, created_at, expires_at, idle_expires_at)
SELECT md5('bulk-session-' || g), $1, 'profile', NULL, now(), now() + interval '1 day',
       now() + interval '1 hour'
FROM generate_series(1, $2) AS g
"""
BULK_TOKENS = """
INSERT INTO refresh_token (token_hash, session_id, issued_at, expires_at, used_at)
SELECT md5('bulk-token-a' || g) || md5('bulk-token-b' || g), md5('bulk-session-' || g),
       now(), now() + interval '1 hour', NULL
FROM generate_series(1, $1) AS g
"""


def bulk_sessions(url: str, username: str, count: int) -> None:
    """Issue 3: `count` live sessions, each with one unused refresh token, inserted by
    generate_series into the server's own tables (schema of app/db/models.py), then
    ANALYZEd so the planner sees the real sizes."""
    async def go(c: asyncpg.Connection) -> None:
        user_id = await c.fetchval("SELECT id FROM user_account WHERE username = $1", username)
        await c.execute(BULK_SESSIONS, user_id, count)
        await c.execute(BULK_TOKENS, count)
        await c.execute("ANALYZE login_session")
        await c.execute("ANALYZE refresh_token")
    _run(go, url)


def live_sessions(url: str, count: int) -> list[tuple[str, int]]:
    """(session id, user id) of `count` live sessions, for tokens minted by the bench."""
    rows = _run(lambda c: c.fetch(
        "SELECT id, user_id FROM login_session WHERE revoked_at IS NULL ORDER BY id LIMIT $1", count), url)
    return [(r["id"], r["user_id"]) for r in rows]


def backend_pids(url: str) -> list[int]:
    """PostgreSQL backends serving one database: their CPU is the database's share of a
    request (PostgreSQL itself is not pinned; it runs wherever the kernel puts it)."""
    name = url.rsplit("/", 1)[1]
    rows = _run(lambda c: c.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name))
    return [r["pid"] for r in rows]


def sessions_opened(url: str) -> int:
    """Connections ever opened to one database (pg_stat_database.sessions, PostgreSQL 14+):
    its growth during a run shows a connection pool that closes and reopens connections."""
    name = url.rsplit("/", 1)[1]
    return int(_run(lambda c: c.fetchval(
        "SELECT coalesce(sessions, 0) FROM pg_stat_database WHERE datname = $1", name)) or 0)
