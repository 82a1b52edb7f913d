"""What users and admins do with accounts and sessions, apart from getting tokens."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from datetime import datetime

from app.clock import Clock
from app.errors import InvalidGrant, InvalidRequest, RateLimited
from app.oauth import audit
from app.oauth.audit import Auditor, RequestContext
from app.oauth.ratelimit import LoginRateLimiter
from app.oauth.session_cache import CachingSessionStore
from app.oauth.validation import valid_password
from app.security.passwords import PasswordHasher
from app.security.tokens import is_session_id
from app.store.session_admin import SessionView, SqlSessionAdmin
from app.store.users import UserRecord, UserStore

MAX_PAGE = 1000


@dataclass(frozen=True)
class SessionPage:
    sessions: list[SessionView]
    next_cursor: str | None  # None: this was the last page


def _cursor(view: SessionView) -> str:
    """Opaque to clients: where the next page starts (created_at and id of this one)."""
    return base64.urlsafe_b64encode(f"{view.created_at.isoformat()} {view.id}".encode()).decode().rstrip("=")


def _after(cursor: str) -> tuple[datetime, str]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
        created, session_id = text.split(" ")
        at = datetime.fromisoformat(created)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise InvalidRequest("The cursor is malformed.") from None
    if at.tzinfo is None or not is_session_id(session_id):
        raise InvalidRequest("The cursor is malformed.")
    return at, session_id


class NotFound(Exception):
    """No such session or user for this caller: the route answers 404."""


class Accounts:
    def __init__(
        self, *, users: UserStore, hasher: PasswordHasher, sessions: SqlSessionAdmin,
        auditor: Auditor, clock: Clock, cache: CachingSessionStore | None = None,
        limiter: LoginRateLimiter | None = None,
    ) -> None:
        """`limiter` guards the current password of change_password; without one (the
        CLI's admin actions, which never check a password) nothing is limited."""
        self._limiter = limiter
        self._cache = cache
        self._users = users
        self._hasher = hasher
        self._sessions = sessions
        self._audit = auditor
        self._clock = clock

    async def list_sessions(self, user_id: int, limit: int = 100, cursor: str | None = None) -> SessionPage:
        """A page of the user's live sessions, newest first: a user with thousands of
        sessions must not make one response of megabytes."""
        limit = max(1, min(limit, MAX_PAGE))
        after = _after(cursor) if cursor else None
        views = await self._sessions.list_live(user_id, self._clock.now(), limit=limit + 1, after=after)
        if len(views) > limit:
            return SessionPage(views[:limit], _cursor(views[limit - 1]))
        return SessionPage(views, None)

    async def end_session(self, user_id: int, session_id: str, ctx: RequestContext, *, by_admin: bool = False) -> None:
        if not is_session_id(session_id):
            raise NotFound()
        if not await self._sessions.end(user_id, session_id, self._clock.now(), "admin" if by_admin else "ended_by_user"):
            raise NotFound()
        self._forget(user_id)
        await self._audit.record(audit.SESSION_ENDED, ctx, user_id=user_id, session_id=session_id,
                                 detail="by admin" if by_admin else None)

    async def end_all_sessions(self, user_id: int, ctx: RequestContext) -> int:
        ended = await self._sessions.end_all(user_id, self._clock.now(), "logout_all")
        self._forget(user_id)
        await self._audit.record(audit.LOGOUT, ctx, user_id=user_id, detail=f"all sessions ({ended})")
        return ended

    async def change_password(
        self, user: UserRecord, current: str, new: str, *, keep_session: str, ctx: RequestContext
    ) -> int:
        """Needs the current password; ends every other session (a thief who had the old
        password, or a token, is out), keeps the one that asked.

        The current password is a guess like a login's, and a stolen access token must
        not buy unlimited ones: the login limits apply (same account and IP counters),
        counted before the hash."""
        valid_password(new)
        if self._limiter is None:
            ok, _ = await self._hasher.verify_and_update(current, user.password_hash)
        else:
            try:
                attempt = await self._limiter.check(user.username, ctx.ip)
            except RateLimited:
                await self._audit.record(audit.RATE_LIMITED, ctx, user_id=user.id, username=user.username,
                                         detail="password change")
                raise
            ok, _ = await attempt.hashing(self._hasher.verify_and_update(current, user.password_hash))
            if ok:
                await attempt.succeeded()
        if not ok:
            # 400, not 401: the bearer token is fine, and a 401 would make clients drop it
            raise InvalidGrant("The current password is wrong.")
        hashed = await self._hasher.hash(new)
        ended = await self._sessions.replace_password(
            user.id, hashed, self._clock.now(), "password_changed", keep=keep_session
        )
        self._forget(user.id)
        await self._audit.record(audit.PASSWORD_CHANGED, ctx, user_id=user.id, username=user.username,
                                 session_id=keep_session, detail=f"ended {ended} other sessions")
        return ended

    def _forget(self, user_id: int) -> None:
        """Sessions this process ended stop working here at once (app.oauth.session_cache)."""
        if self._cache is not None:
            self._cache.evict_user(user_id)

    async def user(self, username: str) -> UserRecord:
        user = await self._users.get_by_username(username)
        if user is None:
            raise NotFound()
        return user

    async def every_session(self, username: str) -> list[SessionView]:
        """All of a user's live sessions, page by page (the command line's listing)."""
        user, page = await self.user_sessions(username, MAX_PAGE)
        views = list(page.sessions)
        while page.next_cursor is not None:
            page = await self.list_sessions(user.id, MAX_PAGE, page.next_cursor)
            views += page.sessions
        return views

    async def user_sessions(self, username: str, limit: int = 100, cursor: str | None = None) -> tuple[UserRecord, SessionPage]:
        user = await self.user(username)
        return user, await self.list_sessions(user.id, limit, cursor)
