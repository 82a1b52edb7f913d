"""Fixed-window login counters in SQL, so every worker and replica sees the same count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.store.tables import attempts


class SqlAttemptStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def hit(self, buckets: list[str], window_start: datetime) -> list[int]:
        """Count one attempt in each bucket; returns the counts after it (one upsert each)."""
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
