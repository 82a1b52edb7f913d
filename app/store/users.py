"""Users: looked up by their NFC-normalised name, so a unicode name typed on another
keyboard still finds its account."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.store.sessions import SessionReads
from app.store.tables import users


@dataclass(frozen=True)
class UserRecord:
    id: int
    username: str
    password_hash: str
    scope: str
    is_active: bool


class DuplicateUser(Exception):
    pass


def normalise_username(name: str) -> str:
    return unicodedata.normalize("NFC", name)


class UserStore(Protocol):
    async def get_by_username(self, username: str) -> UserRecord | None: ...

    async def get_by_id(self, user_id: int) -> UserRecord | None: ...

    async def create(self, username: str, password_hash: str, scope: str, now: datetime) -> UserRecord: ...

    async def set_password_hash(self, user_id: int, password_hash: str) -> None: ...


class SqlUserStore:
    """`reader`: where the server has a driver path (app.store.reads), a login's user is
    read there, in one hop: through the engine the read was ~7 waits for the event loop
    and its query built on the loop each time (~0.35 ms under cProfile), the largest
    share of the loop's work for a login, which requests on other connections wait
    behind during a login storm (bench/README.md, eleventh session)."""

    def __init__(self, engine: AsyncEngine, reader: SessionReads | None = None) -> None:
        self._engine = engine
        self._reader = reader

    async def get_by_username(self, username: str) -> UserRecord | None:
        name = normalise_username(username)
        if self._reader is not None:
            found = await self._reader.user_row(name)
            if found is None:
                return None
            user_id, stored_name, password_hash, scope, is_active = found
            return UserRecord(id=user_id, username=stored_name, password_hash=password_hash,
                              scope=scope or "", is_active=is_active)
        query = select(users).where(users.c.username == name)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).mappings().first()
        return _record(row) if row else None

    async def get_by_id(self, user_id: int) -> UserRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).mappings().first()
        return _record(row) if row else None

    async def create(self, username: str, password_hash: str, scope: str, now: datetime) -> UserRecord:
        values = {
            "username": normalise_username(username),
            "password_hash": password_hash,
            "scope": scope,
            "is_active": True,
            "created_at": now,
        }
        try:
            async with write_connection(self._engine) as conn, conn.begin():
                row = (await conn.execute(insert(users).values(values).returning(users))).mappings().one()
        except IntegrityError:
            raise DuplicateUser(values["username"]) from None
        return _record(row)

    async def set_password_hash(self, user_id: int, password_hash: str) -> None:
        async with write_connection(self._engine) as conn, conn.begin():
            await conn.execute(
                update(users).where(users.c.id == user_id).values(password_hash=password_hash)
            )


def _record(row: object) -> UserRecord:
    m = dict(row)  # type: ignore[call-overload]
    return UserRecord(
        id=m["id"],
        username=m["username"],
        password_hash=m["password_hash"],
        scope=m["scope"] or "",
        is_active=bool(m["is_active"]),
    )
