"""Fixed-window login counters in SQL, so every worker and replica sees the same count."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam
from sqlalchemy.dialects.postgresql import insert

from app.db.runner import Runner, Step
from app.store.tables import attempts

# PostgreSQL's and SQLite's upserts have the same form: this compiles on both.
HIT = (
    insert(attempts)
    .values(bucket=bindparam("bucket"), window_start=bindparam("window_start"), count=1)
    .on_conflict_do_update(index_elements=["bucket", "window_start"], set_={"count": attempts.c.count + 1})
    .returning(attempts.c.count)
)


class SqlAttemptStore:
    def __init__(self, runner: Runner) -> None:
        self._db = runner

    async def hit(self, buckets: list[str], window_start: datetime) -> list[int]:
        """One more attempt in each of the distinct `buckets`, committed together; their
        counts after it, in order."""
        steps = [Step(HIT, {"bucket": bucket, "window_start": window_start}) for bucket in buckets]
        return [int(rows[0][0]) for rows in await self._db.transaction(steps)]
