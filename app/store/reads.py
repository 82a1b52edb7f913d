"""The hot reads — the session cache's `live_many` for its misses and renewals, the
revocation feed, and a login's user — in one driver call each, beside the engine.

Through SQLAlchemy a read is several waits for the event loop: on SQLite about six
thread hops (checkout, cursor, execute, fetch, close, rollback), on PostgreSQL the
checkout's pre-ping, BEGIN, the statement and the ROLLBACK. A busy loop runs an
iteration per ~10–20 ms (every request ready on every connection), and each wait is an
iteration: under load a session missing from the cache waited ~100 ms for its row, and
each poll of the revocation feed ~85 ms (bench/README.md, seventh session). Here:

- SQLite: one job for one thread with its own `sqlite3` connection, query and rows
  together (app.store.reads_sqlite). In WAL mode a read sees every transaction
  committed before it starts, from any connection of any process.
- PostgreSQL: one statement on the driver path's asyncpg pool, no transaction around
  it (app.store.reads_postgres).

Only these reads: everything else stays on the engine. Failures are the engine's:
503 (ServiceUnavailable) when the database cannot answer, and the cache keeps nothing.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from app.settings import Settings
from app.store.rotation import FastRotator
from app.store.sessions import SessionReads


def make_reader(settings: Settings, engine: AsyncEngine, rotator: FastRotator | None) -> SessionReads | None:
    """None where there is no driver path (an in-memory SQLite exists only inside the
    engine's own connections: app.store.rotation.make_rotator)."""
    if rotator is None:
        return None
    if settings.is_sqlite:
        from app.store.reads_sqlite import SqliteReader

        return SqliteReader(engine.url.database or "", settings.sqlite_busy_timeout_ms)
    from app.store.reads_postgres import PostgresReader
    from app.store.rotation_postgres import PostgresRotator

    assert isinstance(rotator, PostgresRotator)
    return PostgresReader(rotator)
