"""What happens when a refresh token comes back after it was used.

Strict (the default): reuse is theft, the session is revoked (RFC 9700 §4.14.2).
Grace (REFRESH_REUSE_GRACE_SECONDS > 0): the *immediate* predecessor of a still-unused
token, presented again within the window, gets the same successor pair back — the client
lost the answer to its refresh, or refreshed in parallel. A token two generations old is
theft even inside the window (its successor was used, so someone holds the newer pair).
Report (REFRESH_REUSE_DETECTION=report): reuse is refused and recorded, but the session
stays, so operators can tune the window before enforcing.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from app.store.tables import sessions, tokens


@dataclass(frozen=True)
class ReusePolicy:
    grace: timedelta = timedelta(0)
    enforce: bool = True


STRICT = ReusePolicy()


class Verdict(enum.Enum):
    UNKNOWN = "unknown"
    EXPIRED = "expired"  # the refresh token lapsed unused: the session's idle end
    SESSION_EXPIRED = "session_expired"  # the session's absolute end
    ENDED = "ended"
    REUSED = "reused"  # enforced: the session is revoked
    REPORTED = "reported"  # report mode: refused, the session stays
    GRACE = "grace"  # the same successor pair again


@dataclass(frozen=True)
class Diagnosis:
    verdict: Verdict
    session_id: str | None = None
    sealed_pair: str | None = None


async def diagnose(conn: AsyncConnection, token_hash: str, now: datetime, policy: ReusePolicy) -> Diagnosis:
    """Why the compare-and-set lost. Revocation is committed here, before the caller
    raises (STYLE §5), in a write transaction of its own."""
    query = (
        select(
            tokens.c.used_at, tokens.c.expires_at, tokens.c.session_id, tokens.c.successor_hash,
            tokens.c.successor_pair, sessions.c.expires_at.label("session_expires_at"),
            sessions.c.revoked_at,
        )
        .join(sessions, sessions.c.id == tokens.c.session_id)
        .where(tokens.c.token_hash == token_hash)
    )
    async with conn.begin():
        row = (await conn.execute(query)).first()
        if row is None:
            return Diagnosis(Verdict.UNKNOWN)
        if row.used_at is None:
            if row.revoked_at is not None:
                verdict = Verdict.ENDED
            elif row.session_expires_at <= now:
                verdict = Verdict.SESSION_EXPIRED
            elif row.expires_at <= now:
                verdict = Verdict.EXPIRED
            else:
                verdict = Verdict.ENDED  # e.g. the user was disabled
            return Diagnosis(verdict, row.session_id)
        if await _within_grace(conn, row, now, policy):
            return Diagnosis(Verdict.GRACE, row.session_id, row.successor_pair)
        if not policy.enforce:
            return Diagnosis(Verdict.REPORTED, row.session_id)
        await revoke(conn, row.session_id, now, "reuse")
        return Diagnosis(Verdict.REUSED, row.session_id)


async def _within_grace(conn: AsyncConnection, row: object, now: datetime, policy: ReusePolicy) -> bool:
    used_at: datetime = row.used_at  # type: ignore[attr-defined]
    if policy.grace <= timedelta(0) or not row.successor_pair or now - used_at > policy.grace:  # type: ignore[attr-defined]
        return False
    successor = (
        await conn.execute(
            select(tokens.c.used_at)
            .join(sessions, sessions.c.id == tokens.c.session_id)
            .where(
                tokens.c.token_hash == row.successor_hash,  # type: ignore[attr-defined]
                sessions.c.revoked_at.is_(None),
                sessions.c.expires_at > now,
                tokens.c.expires_at > now,
            )
        )
    ).first()
    return successor is not None and successor.used_at is None


async def revoke(conn: AsyncConnection, session_id: str, now: datetime, reason: str) -> bool:
    """Idempotent: only the first revocation is recorded, with its reason."""
    result = await conn.execute(
        update(sessions)
        .where(sessions.c.id == session_id, sessions.c.revoked_at.is_(None))
        .values(revoked_at=now, revoked_reason=reason)
    )
    return bool(result.rowcount)
