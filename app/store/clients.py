"""The client registry in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.store.tables import clients


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    name: str
    secret_hash: str | None  # None: a public client
    grant_types: tuple[str, ...]
    scope: tuple[str, ...]
    created_at: datetime

    @property
    def confidential(self) -> bool:
        return self.secret_hash is not None


class ClientStore(Protocol):
    async def get(self, client_id: str) -> ClientRecord | None: ...


class SqlClientStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, client_id: str) -> ClientRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(clients).where(clients.c.client_id == client_id))).mappings().first()
        return _record(row) if row else None

    async def all(self) -> list[ClientRecord]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(clients).order_by(clients.c.created_at))).mappings().all()
        return [_record(row) for row in rows]

    async def create(self, record: ClientRecord) -> ClientRecord:
        values = {
            "client_id": record.client_id, "name": record.name, "secret_hash": record.secret_hash,
            "grant_types": " ".join(record.grant_types), "scope": " ".join(record.scope),
            "created_at": record.created_at,
        }
        async with write_connection(self._engine) as conn, conn.begin():
            await conn.execute(insert(clients).values(values))
        return record


def _record(row: Any) -> ClientRecord:
    return ClientRecord(
        client_id=row["client_id"], name=row["name"], secret_hash=row["secret_hash"],
        grant_types=tuple(row["grant_types"].split()), scope=tuple(row["scope"].split()),
        created_at=row["created_at"],
    )
