"""The client registry in SQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import Update, bindparam, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.db.runner import Runner
from app.store.tables import clients, sessions


@dataclass(frozen=True)
class ClientRecord:
    client_id: str
    name: str
    secret_hash: str | None  # None: a public client
    grant_types: tuple[str, ...]
    scope: tuple[str, ...]
    created_at: datetime
    disabled_at: datetime | None = None  # a disabled client authenticates no more

    @property
    def confidential(self) -> bool:
        return self.secret_hash is not None


class ClientStore(Protocol):
    async def get(self, client_id: str) -> ClientRecord | None: ...


BY_ID = select(clients).where(clients.c.client_id == bindparam("client_id"))


class SqlClientStore:
    """A client's read, on every request that authenticates one, is a hot statement (on
    the runner, bounded as the other hot reads); the registry's changes go through the
    engine."""

    def __init__(self, engine: AsyncEngine, runner: Runner) -> None:
        self._engine = engine
        self._db = runner

    async def get(self, client_id: str) -> ClientRecord | None:
        rows = await self._db.fetch(BY_ID, {"client_id": client_id})
        return _record(dict(zip(BY_ID.selected_columns.keys(), rows[0]))) if rows else None

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

    async def replace_secret(self, client_id: str, secret_hash: str) -> bool:
        """False when there is no confidential client of that id: a public client has no
        secret to replace (it would become confidential behind its users' backs)."""
        stmt = (
            update(clients)
            .where(clients.c.client_id == client_id, clients.c.secret_hash.is_not(None))
            .values(secret_hash=secret_hash)
        )
        async with write_connection(self._engine) as conn, conn.begin():
            return bool((await conn.execute(stmt)).rowcount)

    async def delete(self, client_id: str, now: datetime) -> int | None:
        """The client and every live session issued to it, in one transaction; the number
        of sessions ended, or None when no client has that id (nothing is changed). A
        session left live would outlive its client: its refresh token names a client the
        registry no longer knows, which the rotation accepts from any caller (an unknown
        client_id is the contract's unregistered public client)."""
        async with write_connection(self._engine) as conn, conn.begin():
            gone = await conn.execute(delete(clients).where(clients.c.client_id == client_id))
            if not gone.rowcount:
                return None
            ended = await conn.execute(_ending(client_id, now, "client_deleted"))
        return int(ended.rowcount or 0)

    async def disable(self, client_id: str, now: datetime) -> int | None:
        """Disabled, and every live session issued to it ended, in one transaction: the
        number of sessions ended, or None when no client has that id. The row stays, so
        its refresh tokens stay bound to a client nobody can authenticate as."""
        async with write_connection(self._engine) as conn, conn.begin():
            found = await conn.execute(
                update(clients).where(clients.c.client_id == client_id)
                .values(disabled_at=func.coalesce(clients.c.disabled_at, now))
            )
            if not found.rowcount:
                return None
            ended = await conn.execute(_ending(client_id, now, "client_disabled"))
        return int(ended.rowcount or 0)

    async def enable(self, client_id: str) -> bool:
        """False when no client has that id. Sessions ended by the disable stay ended."""
        stmt = update(clients).where(clients.c.client_id == client_id).values(disabled_at=None)
        async with write_connection(self._engine) as conn, conn.begin():
            return bool((await conn.execute(stmt)).rowcount)


def _ending(client_id: str, now: datetime, reason: str) -> Update:
    return (
        update(sessions)
        .where(sessions.c.client_id == client_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )


def _record(row: Any) -> ClientRecord:
    return ClientRecord(
        client_id=row["client_id"], name=row["name"], secret_hash=row["secret_hash"],
        grant_types=tuple(row["grant_types"].split()), scope=tuple(row["scope"].split()),
        created_at=row["created_at"], disabled_at=row["disabled_at"],
    )
