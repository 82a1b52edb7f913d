"""Signing keys in SQL. Each row knows when the next generation took over from it
(`superseded_at`: that generation's activation), which is what its retirement is
measured from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.store.tables import keys

_later = keys.alias("later")


@dataclass(frozen=True)
class StoredKey:
    kid: str
    generation: int
    algorithm: str
    public_jwk: str
    private_key: str | None
    created_at: datetime
    activates_at: datetime
    superseded_at: datetime | None
    retired_at: datetime | None


class KeyStore(Protocol):
    async def newest(self) -> StoredKey | None: ...

    async def active(self, now: datetime) -> StoredKey | None: ...

    async def get(self, kid: str) -> StoredKey | None: ...

    async def unretired(self) -> list[StoredKey]: ...

    async def all(self) -> list[StoredKey]: ...

    async def add(
        self, *, kid: str, generation: int, algorithm: str, public_jwk: str, private_key: str,
        now: datetime, activates_at: datetime,
    ) -> bool: ...

    async def retire(self, kids: list[str], now: datetime) -> int: ...


def _query() -> Any:
    superseded = (
        select(func.min(_later.c.activates_at))
        .where(_later.c.generation > keys.c.generation)
        .scalar_subquery()
        .label("superseded_at")
    )
    return select(keys, superseded)


class SqlKeyStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _rows(self, query: Any) -> list[StoredKey]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_stored(row) for row in rows]

    async def newest(self) -> StoredKey | None:
        rows = await self._rows(_query().order_by(keys.c.generation.desc()).limit(1))
        return rows[0] if rows else None

    async def active(self, now: datetime) -> StoredKey | None:
        """The key that signs now: the newest generation already activated."""
        query = _query().where(keys.c.activates_at <= now).order_by(keys.c.generation.desc()).limit(1)
        rows = await self._rows(query)
        return rows[0] if rows else None

    async def get(self, kid: str) -> StoredKey | None:
        rows = await self._rows(_query().where(keys.c.kid == kid))
        return rows[0] if rows else None

    async def unretired(self) -> list[StoredKey]:
        return await self._rows(_query().where(keys.c.retired_at.is_(None)).order_by(keys.c.generation.desc()))

    async def all(self) -> list[StoredKey]:
        return await self._rows(_query().order_by(keys.c.generation.desc()))

    async def add(
        self, *, kid: str, generation: int, algorithm: str, public_jwk: str, private_key: str,
        now: datetime, activates_at: datetime,
    ) -> bool:
        """False when another process installed this generation first."""
        dialect = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(keys)
            .values(
                kid=kid, generation=generation, algorithm=algorithm, public_jwk=public_jwk,
                private_key=private_key, created_at=now, activates_at=activates_at,
            )
            .on_conflict_do_nothing(index_elements=["generation"])
        )
        async with write_connection(self._engine) as conn, conn.begin():
            result = await conn.execute(stmt)
        return bool(result.rowcount)

    async def retire(self, kids: list[str], now: datetime) -> int:
        """Retired keys lose their private half: nothing can sign with them again."""
        if not kids:
            return 0
        stmt = (
            update(keys)
            .where(keys.c.kid.in_(kids), keys.c.retired_at.is_(None))
            .values(retired_at=now, private_key=None)
        )
        async with write_connection(self._engine) as conn, conn.begin():
            result = await conn.execute(stmt)
        return int(result.rowcount or 0)


def _stored(row: Any) -> StoredKey:
    return StoredKey(
        kid=row["kid"], generation=row["generation"], algorithm=row["algorithm"],
        public_jwk=row["public_jwk"], private_key=row["private_key"], created_at=row["created_at"],
        activates_at=row["activates_at"], superseded_at=row["superseded_at"], retired_at=row["retired_at"],
    )
