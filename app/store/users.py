"""Users: looked up by their NFC-normalised name, so a unicode name typed on another
keyboard still finds its account."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import datetime
from collections.abc import Sequence
from typing import Protocol

from sqlalchemy import and_, bindparam, insert, not_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from app.db.engine import write_connection
from app.db.runner import Runner
from app.store.tables import users


@dataclass(frozen=True)
class UserRecord:
    id: int
    username: str
    password_hash: str
    scope: str
    is_active: bool
    created_at: datetime | None = None  # not read on the login path


class DuplicateUser(Exception):
    pass


def normalise_username(name: str) -> str:
    return unicodedata.normalize("NFC", name)


class UserStore(Protocol):
    async def get_by_username(self, username: str) -> UserRecord | None: ...

    async def get_by_id(self, user_id: int) -> UserRecord | None: ...

    async def create(self, username: str, password_hash: str, scope: str, now: datetime) -> UserRecord: ...

    async def set_password_hash(self, user_id: int, password_hash: str) -> None: ...

    async def hash_outside(self, prefixes: Sequence[str]) -> str | None:
        """One stored password hash that starts with none of `prefixes`; None if there is none."""
        ...


class UserDirectory(UserStore, Protocol):
    """What the admin's user actions need besides a login's lookups."""

    async def page(self, limit: int, after: int | None) -> list[UserRecord]: ...

    async def set_scope(self, user_id: int, scope: str) -> None: ...

    async def enable(self, user_id: int) -> None: ...


BY_NAME = select(
    users.c.id, users.c.username, users.c.password_hash, users.c.scope, users.c.is_active,
).where(users.c.username == bindparam("username"))


class SqlUserStore:
    """A login's read of its user is a hot statement (on the runner); the rest, written
    by the CLI and the admin routes, goes through the engine."""

    def __init__(self, engine: AsyncEngine, runner: Runner) -> None:
        self._engine = engine
        self._db = runner

    async def get_by_username(self, username: str) -> UserRecord | None:
        rows = await self._db.fetch(BY_NAME, {"username": normalise_username(username)})
        if not rows:
            return None
        user_id, name, password_hash, scope, is_active = rows[0]
        return UserRecord(id=user_id, username=name, password_hash=password_hash, scope=scope or "",
                          is_active=bool(is_active))

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

    async def hash_outside(self, prefixes: Sequence[str]) -> str | None:
        """A scan of the user table (no index serves it): app.oauth.password_check asks it
        once per cost in use, once per process, not per request."""
        query = select(users.c.password_hash).where(
            and_(True, *(not_(users.c.password_hash.startswith(p, autoescape=True)) for p in prefixes))
        ).limit(1)
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).scalar()

    async def page(self, limit: int, after: int | None) -> list[UserRecord]:
        """Accounts by id (keyset paging: each page one index range), tombstones of
        deleted accounts left out."""
        query = select(users).where(users.c.deleted_at.is_(None)).order_by(users.c.id).limit(limit)
        if after is not None:
            query = query.where(users.c.id > after)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [_record(row) for row in rows]

    async def set_scope(self, user_id: int, scope: str) -> None:
        async with write_connection(self._engine) as conn, conn.begin():
            await conn.execute(update(users).where(users.c.id == user_id).values(scope=scope))

    async def enable(self, user_id: int) -> None:
        async with write_connection(self._engine) as conn, conn.begin():
            await conn.execute(
                update(users).where(users.c.id == user_id, users.c.deleted_at.is_(None)).values(is_active=True)
            )


def _record(row: object) -> UserRecord:
    m = dict(row)  # type: ignore[call-overload]
    return UserRecord(
        id=m["id"],
        username=m["username"],
        password_hash=m["password_hash"],
        scope=m["scope"] or "",
        is_active=bool(m["is_active"]),
        created_at=m["created_at"],
    )
