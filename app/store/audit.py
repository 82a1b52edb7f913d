"""The audit trail in SQL: append-only rows, read newest first."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Select, bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.store.tables import events


@dataclass(frozen=True)
class AuditRecord:
    at: datetime
    event: str
    user_id: int | None = None
    username: str | None = None
    session_id: str | None = None
    client_id: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    detail: str | None = None
    actor: str | None = None

    def row(self) -> dict[str, Any]:
        """The fields by name, for a statement's binds (shallow: dataclasses.asdict
        deep-copies every value)."""
        return dict(vars(self))


class AuditStore(Protocol):
    async def append(self, record: AuditRecord) -> None: ...

    async def tail(self, limit: int = 100, *, user_id: int | None = None, event: str | None = None) -> list[AuditRecord]: ...


_FIELDS = [c for c in events.c if c.name != "id"]
APPEND = insert(events).values({c.name: bindparam(c.name) for c in _FIELDS})
EVENT_COLUMNS = tuple(c.name for c in _FIELDS)


def event_row(prefix: str) -> Select[Any]:
    """An audit row as a SELECT of binds named `prefix` + field (for INSERT … SELECT)."""
    return select(*(bindparam(prefix + c.name, type_=c.type) for c in _FIELDS))


class SqlAuditStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def append(self, record: AuditRecord) -> None:
        async with write_connection(self._engine) as conn, conn.begin():
            await conn.execute(APPEND, record.row())

    async def tail(self, limit: int = 100, *, user_id: int | None = None, event: str | None = None) -> list[AuditRecord]:
        query = select(events).order_by(events.c.id.desc()).limit(limit)
        if user_id is not None:
            query = query.where(events.c.user_id == user_id)
        if event is not None:
            query = query.where(events.c.event == event)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [AuditRecord(**{k: v for k, v in row.items() if k != "id"}) for row in rows]
