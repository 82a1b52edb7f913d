"""Scratch PostgreSQL databases, one per configuration, named after this run's process
so that runs of several people on one PostgreSQL never touch each other's; all of them
are dropped when the run ends (PG_ADMIN: BENCH_PG_ADMIN_URL, default the local trust user).
"""

from __future__ import annotations

import asyncio
import atexit
import os
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg

PG_ADMIN = os.environ.get("BENCH_PG_ADMIN_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
PREFIX = f"authbench_{os.getpid()}_"
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
    """A fresh database PREFIX + name; returns its plain postgresql:// URL."""
    full = PREFIX + name
    if not _created:
        atexit.register(drop_all)
    _run(lambda c: c.execute(f'DROP DATABASE IF EXISTS "{full}" WITH (FORCE)'))
    _run(lambda c: c.execute(f'CREATE DATABASE "{full}"'))
    _created.append(full)
    return pg_url(full)


def drop_all() -> None:
    """This run's databases."""
    async def go(c: asyncpg.Connection) -> None:
        for name in _created:
            await c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    try:
        if _created:
            _run(go)
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"warning: could not drop scratch databases: {exc}")
    _created.clear()


def backend_pids(url: str) -> list[int]:
    """PostgreSQL backends serving one database: their CPU is the database's share of a
    request (PostgreSQL itself is not pinned; it runs wherever the kernel puts it)."""
    name = url.rsplit("/", 1)[1]
    rows = _run(lambda c: c.fetch(
        "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name))
    return [r["pid"] for r in rows]
