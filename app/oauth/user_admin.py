"""What an admin does to accounts, from the command line or the admin API alike: create,
list, enable, disable, change scopes, set a password, delete.

Every change is validated first (app.oauth.validation: nothing is stored when it fails)
and audited, with the admin as `actor`. A change that takes something away ends the
user's sessions at once, in the transaction that makes it: disabling, deleting, a new
password, and a narrower scope (a session keeps the grant it started with, so a scope
taken away would otherwise live on in it until it ends).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from app.clock import Clock
from app.errors import Conflict, InvalidRequest
from app.oauth import audit
from app.oauth.accounts import MAX_PAGE, NotFound
from app.oauth.audit import Auditor, RequestContext
from app.oauth.session_cache import CachingSessionStore
from app.oauth.validation import valid_password, valid_scope, valid_username
from app.security.passwords import PasswordHasher
from app.store.users import DuplicateUser, UserDirectory, UserRecord


class UserSessions(Protocol):
    """The account changes that end sessions in the same transaction (app.store.session_admin)."""

    async def disable_user(self, user_id: int, now: datetime) -> int: ...

    async def delete_user(self, user_id: int, tombstone: str, now: datetime) -> int: ...

    async def replace_password(
        self, user_id: int, password_hash: str, now: datetime, reason: str, *, keep: str | None = None
    ) -> int: ...

    async def end_all(self, user_id: int, now: datetime, reason: str, *, keep: str | None = None) -> int: ...


@dataclass(frozen=True)
class UserPage:
    users: list[UserRecord]
    next_cursor: str | None  # None: this was the last page


def tombstone_name(user_id: int) -> str:
    """The name a deleted account keeps: unique (its id), and one no account can be given
    (valid_username refuses a leading space), so the old name is free again."""
    return f" deleted {user_id}"


class UserAdmin:
    def __init__(
        self, *, users: UserDirectory, sessions: UserSessions, hasher: PasswordHasher, auditor: Auditor,
        clock: Clock, known_scopes: frozenset[str], cache: CachingSessionStore | None = None,
    ) -> None:
        self._users = users
        self._sessions = sessions
        self._hasher = hasher
        self._audit = auditor
        self._clock = clock
        self._known = known_scopes
        self._cache = cache

    async def user(self, username: str) -> UserRecord:
        """The whole record (the login's lookup by name leaves out what it does not need).
        A deleted account's tombstone is no user, even when asked for by its name."""
        found = await self._users.get_by_username(username)
        user = found and await self._users.get_by_id(found.id)
        if user is None or user.username == tombstone_name(user.id):
            raise NotFound()
        return user

    async def page(self, limit: int = 100, cursor: str | None = None) -> UserPage:
        limit = max(1, min(limit, MAX_PAGE))
        after = _after(cursor) if cursor else None
        users = await self._users.page(limit + 1, after)
        if len(users) > limit:
            return UserPage(users[:limit], str(users[limit - 1].id))
        return UserPage(users, None)

    async def create(self, username: str, password: str, scope: str, ctx: RequestContext) -> UserRecord:
        name = valid_username(username)
        valid_password(password)
        scope = valid_scope(scope, self._known)
        hashed = await self._hasher.hash(password)
        try:
            user = await self._users.create(name, hashed, scope, self._clock.now())
        except DuplicateUser:
            raise Conflict("A user of that name already exists.") from None
        await self._audit.record(audit.USER_CREATED, ctx, user_id=user.id, username=user.username,
                                 detail=f"scope: {scope}")
        return user

    async def enable(self, username: str, ctx: RequestContext) -> UserRecord:
        """Sessions ended while the account was disabled stay ended: the user logs in again."""
        user = await self.user(username)
        await self._users.enable(user.id)
        await self._audit.record(audit.USER_ENABLED, ctx, user_id=user.id, username=user.username)
        return await self.user(username)

    async def disable(self, username: str, ctx: RequestContext) -> int:
        user = await self.user(username)
        ended = await self._sessions.disable_user(user.id, self._clock.now())
        self._forget(user.id)
        await self._audit.record(audit.USER_DISABLED, ctx, user_id=user.id, username=user.username,
                                 detail=f"ended {ended} sessions")
        return ended

    async def set_scope(self, username: str, scope: str, ctx: RequestContext) -> tuple[UserRecord, int]:
        """The account with its new scope, and the sessions ended (when a scope was taken away)."""
        scope = valid_scope(scope, self._known)
        user = await self.user(username)
        await self._users.set_scope(user.id, scope)
        ended = 0
        if set(user.scope.split()) - set(scope.split()):
            ended = await self._sessions.end_all(user.id, self._clock.now(), "scope_changed")
            self._forget(user.id)
        await self._audit.record(audit.USER_SCOPE_CHANGED, ctx, user_id=user.id, username=user.username,
                                 detail=f"scope: {user.scope} -> {scope}; ended {ended} sessions")
        return await self.user(username), ended

    async def set_password(self, username: str, password: str, ctx: RequestContext) -> int:
        """Without the current password: every session of the user ends, whoever held it."""
        valid_password(password)
        user = await self.user(username)
        hashed = await self._hasher.hash(password)
        ended = await self._sessions.replace_password(user.id, hashed, self._clock.now(), "password_set")
        self._forget(user.id)
        await self._audit.record(audit.PASSWORD_SET, ctx, user_id=user.id, username=user.username,
                                 detail=f"ended {ended} sessions")
        return ended

    async def delete(self, username: str, ctx: RequestContext) -> int:
        user = await self.user(username)
        ended = await self._sessions.delete_user(user.id, tombstone_name(user.id), self._clock.now())
        self._forget(user.id)
        await self._audit.record(audit.USER_DELETED, ctx, user_id=user.id, username=user.username,
                                 detail=f"ended {ended} sessions")
        return ended

    def _forget(self, user_id: int) -> None:
        """Sessions this process ended stop working here at once (app.oauth.session_cache)."""
        if self._cache is not None:
            self._cache.evict_user(user_id)


def _after(cursor: str) -> int:
    if not cursor.isascii() or not cursor.isdigit() or len(cursor) > 18:
        raise InvalidRequest("The cursor is malformed.")
    return int(cursor)
