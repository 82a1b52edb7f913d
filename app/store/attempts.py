"""Fixed-window login counters in SQL, so every worker and replica sees the same count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.store.rotation import FastRotator
from app.store.tables import attempts


class SqlAttemptStore:
    """`rotator`: where the server has a driver path (app.store.rotation), the counters are
    upserted there, in one hop (SQLite: in the rotation thread's batches) or one statement
    (PostgreSQL). Through the engine a login's two upserts were ~11 waits for the event
    loop and their statements built on it: with rate limits on (the default), ~3 ms of
    the loop's ~5 ms per login (bench/README.md, eleventh session)."""

    def __init__(self, engine: AsyncEngine, rotator: FastRotator | None = None) -> None:
        self._engine = engine
        self._rotator = rotator

    async def hit(self, buckets: list[str], window_start: datetime) -> list[int]:
        """Count one attempt in each bucket (distinct); returns the counts after it (one
        upsert each)."""
        if self._rotator is not None:
            return await self._rotator.hit(buckets, window_start)
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        counts = []
        async with write_connection(self._engine) as conn, conn.begin():
            for bucket in buckets:
                stmt = dialect.insert(attempts).values(bucket=bucket, window_start=window_start, count=1)
                stmt = stmt.on_conflict_do_update(
                    index_elements=["bucket", "window_start"],
                    set_={"count": attempts.c.count + 1},
                ).returning(attempts.c.count)
                counts.append(int((await conn.execute(stmt)).scalar_one()))
        return counts
