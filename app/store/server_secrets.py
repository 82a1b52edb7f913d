"""The development signing secret, generated once and stored so every worker and replica
signs with the same key. Production never uses this: it requires JWT_SECRET."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.store.tables import secrets_table


class SqlSecretStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get_or_create(self, name: str, candidate: str, now: datetime) -> str:
        """Insert-if-absent then read: concurrent first starts all end up with one value."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(secrets_table)
            .values(name=name, value=candidate, created_at=now)
            .on_conflict_do_nothing(index_elements=["name"])
        )
        async with write_connection(self._engine) as conn, conn.begin():
            await conn.execute(stmt)
            value = (
                await conn.execute(select(secrets_table.c.value).where(secrets_table.c.name == name))
            ).scalar_one()
        return str(value)

    async def get(self, name: str) -> str | None:
        """Read only: for checks that must change nothing stored."""
        async with self._engine.connect() as conn:
            value = (
                await conn.execute(select(secrets_table.c.value).where(secrets_table.c.name == name))
            ).scalar_one_or_none()
        return None if value is None else str(value)
