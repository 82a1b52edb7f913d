"""Login sessions and their refresh tokens, in SQL.

The store holds no policy: it reads a token's whole state in one statement (what
app.oauth.refresh_rule decides on) and performs what was decided. Rotation is a
compare-and-set, `UPDATE … WHERE token_hash = :h AND used_at IS NULL`, in the same
transaction as the successor's insert: among concurrent refreshes of one token exactly
one claims it (PostgreSQL re-checks the WHERE after waiting on the row lock; SQLite
serialises writers), and a failed commit leaves the token unused.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Protocol

from sqlalchemy import ClauseElement, bindparam, insert, select, update
from sqlalchemy.sql import Select
from sqlalchemy.orm import aliased

from app.db.runner import Runner, Step
from app.store.audit import APPEND, EVENT_COLUMNS, AuditRecord, event_row
from app.store.tables import clients, events, sessions, tokens, users


@dataclass(frozen=True)
class SessionInfo:
    """A session as a grant sees it when it starts or rotates it."""

    id: str
    user_id: int
    username: str
    scope: str
    client_id: str | None
    expires_at: datetime
    refresh_expires_at: datetime


@dataclass(frozen=True)
class LiveSession:
    id: str
    user_id: int
    username: str
    scope: str
    ends_at: datetime | None = None  # the earlier of the absolute and the idle end


@dataclass(frozen=True)
class TokenState:
    """Everything the refresh rule needs of a presented refresh token, read at once."""

    session_id: str
    user_id: int
    username: str
    user_active: bool
    scope: str  # the session's grant
    client_id: str | None  # the client that started the session, as it named itself
    bound_to: str | None  # that client, if registered: its refresh tokens are bound to it
    issued_at: datetime
    expires_at: datetime
    used_at: datetime | None
    session_expires_at: datetime
    session_revoked_at: datetime | None
    successor_pair: str | None  # the pair it was rotated into, sealed with this token
    successor_used_at: datetime | None
    successor_expires_at: datetime | None
    confirmed_at: datetime | None = None  # its rotation's answer was in the server's hands

    def session(self, refresh_expires_at: datetime) -> SessionInfo:
        return SessionInfo(
            self.session_id, self.user_id, self.username, self.scope, self.client_id,
            self.session_expires_at, refresh_expires_at,
        )


@dataclass(frozen=True)
class Rotation:
    token_hash: str
    successor_hash: str
    session_id: str
    now: datetime
    refresh_expires_at: datetime
    sealed_pair: str | None  # kept on the spent token for a retry of the same rotation
    audit: AuditRecord | None


@dataclass(frozen=True)
class NewSession:
    session_id: str
    user_id: int
    scope: str
    client_id: str | None
    now: datetime
    expires_at: datetime
    refresh_hash: str
    refresh_expires_at: datetime
    user_agent: str | None
    ip: str | None
    audit: AuditRecord | None
    keep_live: int | None = None  # end the user's live sessions beyond this many newest, first


class RefreshTokenStore(Protocol):
    async def state(self, token_hash: str) -> TokenState | None: ...

    async def rotate(self, rotation: Rotation) -> bool:
        """False: the token was claimed by someone else since its state was read."""
        ...

    async def confirm(self, token_hashes: Sequence[str], now: datetime) -> None:
        """The rotations that spent these tokens were answered."""
        ...


class SessionStore(Protocol):
    async def create(self, session: NewSession) -> list[str]:
        """The ids of the sessions it ended to stay within `keep_live`."""
        ...

    async def revoke(self, session_id: str, now: datetime, reason: str) -> bool:
        """Idempotent: True only for the revocation that ended the session."""
        ...

    async def owner(self, session_id: str) -> tuple[bool, str | None]:
        """(the session exists, the registered client it belongs to or None)."""
        ...


class LiveSessions(Protocol):
    async def live_many(self, session_ids: Sequence[str], now: datetime) -> dict[str, LiveSession]: ...

    async def revoked_since(self, since: datetime) -> list[str]: ...


_successor = aliased(tokens)
STATE = (
    select(
        tokens.c.session_id, sessions.c.user_id, users.c.username, users.c.is_active, sessions.c.scope,
        sessions.c.client_id, clients.c.client_id.label("bound_to"), tokens.c.issued_at, tokens.c.expires_at,
        tokens.c.used_at, sessions.c.expires_at.label("session_expires_at"), sessions.c.revoked_at,
        tokens.c.successor_pair, _successor.c.used_at.label("successor_used_at"),
        _successor.c.expires_at.label("successor_expires_at"), tokens.c.confirmed_at,
    )
    .join(sessions, sessions.c.id == tokens.c.session_id)
    .join(users, users.c.id == sessions.c.user_id)
    .outerjoin(clients, clients.c.client_id == sessions.c.client_id)
    .outerjoin(_successor, _successor.c.token_hash == tokens.c.successor_hash)
    .where(tokens.c.token_hash == bindparam("token_hash"))
)
CLAIM = (
    update(tokens)
    .where(tokens.c.token_hash == bindparam("token_hash"), tokens.c.used_at.is_(None))
    .values(used_at=bindparam("now"), successor_hash=bindparam("successor_hash"),
            successor_pair=bindparam("sealed_pair"))
    .returning(tokens.c.session_id)
)
INSERT_TOKEN = insert(tokens).values(
    token_hash=bindparam("token_hash"), session_id=bindparam("session_id"),
    issued_at=bindparam("issued_at"), expires_at=bindparam("expires_at"),
)
# A rotation's successor, as INSERT … SELECT so that it can be made conditional on the
# claim (ROTATE_AT_ONCE); its binds are the Rotation's names.
_SUCCESSOR_COLUMNS = ("token_hash", "session_id", "issued_at", "expires_at")
SUCCESSOR_ROW: Select[tuple[str, str, datetime, datetime]] = select(
    bindparam("successor_hash", type_=tokens.c.token_hash.type), bindparam("session_id", type_=tokens.c.session_id.type),
    bindparam("now", type_=tokens.c.issued_at.type), bindparam("refresh_expires_at", type_=tokens.c.expires_at.type),
)
INSERT_SUCCESSOR = insert(tokens).from_select(_SUCCESSOR_COLUMNS, SUCCESSOR_ROW)
ROTATE_TOUCH = (
    update(sessions)
    .where(sessions.c.id == bindparam("session_id"))
    .values(last_refreshed_at=bindparam("now"), idle_expires_at=bindparam("refresh_expires_at"))
)
AUDIT_PREFIX = "audit_"


@lru_cache(maxsize=2)
def rotate_at_once(audited: bool) -> ClauseElement:
    """The rotation as one statement, for databases with data-modifying WITH (PostgreSQL):
    the claim, then the successor, the session's touch and the audit row, each only if
    the claim returned its row. One statement is one atomic transaction, so it commits
    all of it or nothing, in one round trip instead of six (BEGIN, four statements,
    COMMIT). The parts are the transaction's own statements (CLAIM, SUCCESSOR_ROW,
    ROTATE_TOUCH, APPEND); the answer is CLAIM's rows."""
    claimed = CLAIM.cte("claimed")
    won = select(claimed.c.session_id).exists()
    parts = [
        insert(tokens).from_select(_SUCCESSOR_COLUMNS, SUCCESSOR_ROW.where(won)).cte("successor"),
        ROTATE_TOUCH.where(won).cte("touched"),
    ]
    if audited:
        parts.append(insert(events).from_select(EVENT_COLUMNS, event_row(AUDIT_PREFIX).where(won)).cte("audited"))
    return select(claimed.c.session_id).add_cte(*parts)


INSERT_SESSION = insert(sessions).values(
    {name: bindparam(name) for name in (
        "id", "user_id", "scope", "client_id", "created_at", "expires_at", "idle_expires_at", "user_agent", "ip",
    )}
)
REVOKE = (
    update(sessions)
    .where(sessions.c.id == bindparam("session_id"), sessions.c.revoked_at.is_(None))
    .values(revoked_at=bindparam("now"), revoked_reason=bindparam("reason"))
    .returning(sessions.c.id)
)
END_OLDEST = (
    update(sessions)
    .where(sessions.c.id.in_(
        select(sessions.c.id)
        .where(
            sessions.c.user_id == bindparam("user_id"), sessions.c.revoked_at.is_(None),
            sessions.c.expires_at > bindparam("now"), sessions.c.idle_expires_at > bindparam("now"),
        )
        .order_by(sessions.c.created_at.desc(), sessions.c.id.desc())
        .offset(bindparam("keep"))
    ))
    .values(revoked_at=bindparam("now"), revoked_reason="session_cap")
    .returning(sessions.c.id)
)
OWNER = (
    select(sessions.c.id, clients.c.client_id)
    .outerjoin(clients, clients.c.client_id == sessions.c.client_id)
    .where(sessions.c.id == bindparam("session_id"))
)
REVOKED_SINCE = select(sessions.c.id).where(sessions.c.revoked_at >= bindparam("since"))  # ix_login_session_revoked_at
LIST_SIZES = (1, 4, 16, 64, 256)  # statements for these list lengths; a batch is padded up to one


def in_chunks(values: Sequence[str], name: str) -> Iterator[tuple[int, dict[str, str]]]:
    """`values` without repeats, as (size, binds `name0` … `name{size-1}`) per chunk: a
    statement is compiled once per size in LIST_SIZES, and a chunk is padded up to its size
    by repeating its last value."""
    pending = list(dict.fromkeys(values))
    while pending:
        size = next((s for s in LIST_SIZES if s >= len(pending)), LIST_SIZES[-1])
        chunk, pending = pending[:size], pending[size:]
        yield size, {f"{name}{i}": chunk[min(i, len(chunk) - 1)] for i in range(size)}


@lru_cache(maxsize=len(LIST_SIZES))
def confirm_statement(size: int) -> ClauseElement:
    """The rotations that spent these tokens were answered: one statement per batch."""
    return (
        update(tokens)
        .where(tokens.c.token_hash.in_([bindparam(f"h{i}") for i in range(size)]), tokens.c.confirmed_at.is_(None))
        .values(confirmed_at=bindparam("now"))
    )


@lru_cache(maxsize=len(LIST_SIZES))
def live_statement(size: int) -> ClauseElement:
    """Sessions by primary key alone; liveness is checked on the rows. Given `revoked_at
    IS NULL` and a list of ids, SQLite's planner (no statistics: the server never
    ANALYZEs) may walk the revoked_at index instead, that is every live session."""
    return (
        select(
            sessions.c.id, sessions.c.user_id, sessions.c.scope, users.c.username, users.c.is_active,
            sessions.c.revoked_at, sessions.c.expires_at, sessions.c.idle_expires_at,
        )
        .join(users, users.c.id == sessions.c.user_id)
        .where(sessions.c.id.in_([bindparam(f"id{i}") for i in range(size)]))
    )


class SqlSessionStore:
    def __init__(self, runner: Runner) -> None:
        self._db = runner

    async def state(self, token_hash: str) -> TokenState | None:
        rows = await self._db.fetch(STATE, {"token_hash": token_hash})
        if not rows:
            return None
        r = rows[0]
        return TokenState(
            session_id=r[0], user_id=r[1], username=r[2], user_active=bool(r[3]), scope=r[4] or "",
            client_id=r[5], bound_to=r[6], issued_at=r[7], expires_at=r[8], used_at=r[9],
            session_expires_at=r[10], session_revoked_at=r[11], successor_pair=r[12],
            successor_used_at=r[13], successor_expires_at=r[14], confirmed_at=r[15],
        )

    async def rotate(self, rotation: Rotation) -> bool:
        r = rotation
        params = {"token_hash": r.token_hash, "now": r.now, "successor_hash": r.successor_hash,
                  "sealed_pair": r.sealed_pair, "session_id": r.session_id, "refresh_expires_at": r.refresh_expires_at}
        if self._db.writes_with_cte:
            if r.audit is not None:
                params.update({AUDIT_PREFIX + k: v for k, v in r.audit.row().items()})
            return bool(await self._db.fetch(rotate_at_once(r.audit is not None), params))
        steps = [Step(CLAIM, params), Step(INSERT_SUCCESSOR, params), Step(ROTATE_TOUCH, params)]
        if r.audit is not None:
            steps.append(Step(APPEND, r.audit.row()))
        results = await self._db.transaction(steps, claim=True)
        return bool(results[0])

    async def confirm(self, token_hashes: Sequence[str], now: datetime) -> None:
        for size, params in in_chunks(token_hashes, "h"):
            await self._db.fetch(confirm_statement(size), {**params, "now": now})

    async def create(self, session: NewSession) -> list[str]:
        """The session, its first refresh token and the audit row, in one transaction;
        first, the user's oldest live sessions beyond `keep_live` end."""
        n = session
        steps = [] if n.keep_live is None else [
            Step(END_OLDEST, {"user_id": n.user_id, "now": n.now, "keep": n.keep_live}),
        ]
        steps += [
            Step(INSERT_SESSION, {
                "id": n.session_id, "user_id": n.user_id, "scope": n.scope, "client_id": n.client_id,
                "created_at": n.now, "expires_at": n.expires_at, "idle_expires_at": n.refresh_expires_at,
                "user_agent": (n.user_agent or None) and n.user_agent[:512], "ip": n.ip,
            }),
            Step(INSERT_TOKEN, {"token_hash": n.refresh_hash, "session_id": n.session_id,
                                "issued_at": n.now, "expires_at": n.refresh_expires_at}),
        ]
        if n.audit is not None:
            steps.append(Step(APPEND, n.audit.row()))
        results = await self._db.transaction(steps)
        return [row[0] for row in results[0]] if n.keep_live is not None else []

    async def revoke(self, session_id: str, now: datetime, reason: str) -> bool:
        return bool(await self._db.fetch(REVOKE, {"session_id": session_id, "now": now, "reason": reason}))

    async def owner(self, session_id: str) -> tuple[bool, str | None]:
        rows = await self._db.fetch(OWNER, {"session_id": session_id})
        return (False, None) if not rows else (True, rows[0][1])

    async def revoked_since(self, since: datetime) -> list[str]:
        """Sessions revoked at or after `since`: the revocation feed of app.oauth.session_cache."""
        return [row[0] for row in await self._db.fetch(REVOKED_SINCE, {"since": since})]

    async def live(self, session_id: str, now: datetime) -> LiveSession | None:
        return (await self.live_many([session_id], now)).get(session_id)

    async def live_many(self, session_ids: Sequence[str], now: datetime) -> dict[str, LiveSession]:
        """The live ones among `session_ids`; an id left out is unknown, ended or its
        user disabled."""
        found: dict[str, LiveSession] = {}
        for size, params in in_chunks(session_ids, "id"):
            for sid, user_id, scope, username, active, revoked_at, expires_at, idle_expires_at in \
                    await self._db.fetch(live_statement(size), params):
                if revoked_at is None and expires_at > now and idle_expires_at > now and active:
                    found[sid] = LiveSession(sid, user_id, username, scope or "", min(expires_at, idle_expires_at))
        return found
