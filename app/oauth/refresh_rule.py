"""What a presented refresh token's state means: the one place that decides whether it
rotates, and what a refusal is. The refresh grant, `POST /refresh`, introspection and
revocation all read the token's state from the store and ask `decide` (or `is_active`).

A token rotates iff it was issued to the calling client (or to none we registered), the
scope asked for is within the session's grant, it is unused and unexpired, its session
is live (not revoked, not past its absolute end) and its user active. A used token
coming back is a retry of its rotation when that rotation's answer may never have
reached the client (below), else reuse, decided by the ReusePolicy.

A rotation is confirmed when the server has its answer in hand (the issuer records that
just after; a failed or timed-out commit, answered 503, never is) or when its successor
is first used. A rotation can commit although its answer was a 503: the COMMIT reached
the database, the reply did not come back (a cut connection, a stall that healed).
The client then retries with the same token, as Retry-After tells it to, at whichever
replica; that retry must not look like theft. So a used token whose rotation is still
unconfirmed after UNANSWERED_AFTER gets the same successor pair again, in every policy.
Concurrent refreshes of one token meet well within UNANSWERED_AFTER, so for them, and
for any reuse of a rotation that was answered, the policy decides as before.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.store.sessions import TokenState


@dataclass(frozen=True)
class ReusePolicy:
    """`grace` > 0: the immediate predecessor of a still-unused token, presented again
    within the window, gets the same successor pair (a lost answer, a parallel refresh).
    `enforce` False (REFRESH_REUSE_DETECTION=report): reuse is refused and recorded but
    the session stays, so operators can tune the window before enforcing."""

    grace: timedelta = timedelta(0)
    enforce: bool = True


STRICT = ReusePolicy()
UNANSWERED_AFTER = timedelta(seconds=1)  # a confirmation normally lands within milliseconds


class Outcome(enum.Enum):
    ROTATE = "rotate"
    REPLAY = "replay"  # a retry of the same rotation: its sealed successor pair, again
    REVOKE = "revoke"  # reuse, enforced: the session is revoked
    REPORT = "report"  # reuse, report mode: refused, the session stays
    WRONG_CLIENT = "wrong_client"
    SCOPE = "scope"
    EXPIRED_IDLE = "expired_idle"  # the token lapsed unused: the session's idle end
    EXPIRED_ABSOLUTE = "expired_absolute"  # the session's maximum lifetime passed
    ENDED = "ended"  # logged out, revoked, or its user disabled
    UNKNOWN = "unknown"


def decide(
    state: TokenState | None, *, now: datetime, client_id: str | None, scope: Sequence[str] | None,
    policy: ReusePolicy = STRICT,
) -> Outcome:
    if state is None:
        return Outcome.UNKNOWN
    # RFC 6749 §6: "the authorization server MUST ... ensure that the refresh token was
    # issued to the authenticated client". Checked first, so another client can neither
    # spend, replay nor (by reusing it) revoke a token that is not its own.
    if state.bound_to is not None and state.bound_to != client_id:
        return Outcome.WRONG_CLIENT
    # RFC 6749 §6: the requested scope "MUST NOT include any scope not originally granted".
    if scope is not None and not set(scope) <= set(state.scope.split()):
        return Outcome.SCOPE
    if state.used_at is not None:
        # RFC 9700 §4.14.2: "If a refresh token is compromised and subsequently used by
        # both the attacker and the legitimate client, one of them will present an
        # invalidated refresh token, which will inform the authorization server of the
        # breach", which then revokes the active refresh token (here: the session).
        age = now - state.used_at
        unanswered = state.confirmed_at is None and age >= UNANSWERED_AFTER
        in_grace = policy.grace > timedelta(0) and age <= policy.grace
        if (unanswered or in_grace) and _successor_usable(state, now):
            return Outcome.REPLAY
        return Outcome.REVOKE if policy.enforce else Outcome.REPORT
    if state.session_revoked_at is not None:
        return Outcome.ENDED
    if state.session_expires_at <= now:
        return Outcome.EXPIRED_ABSOLUTE
    if state.expires_at <= now:
        return Outcome.EXPIRED_IDLE
    if not state.user_active:
        return Outcome.ENDED
    return Outcome.ROTATE


def is_active(state: TokenState | None, now: datetime) -> bool:
    """RFC 7662 `active`: the token would rotate now for the client it was issued to."""
    if state is None:
        return False
    return decide(state, now=now, client_id=state.bound_to, scope=None, policy=STRICT) is Outcome.ROTATE


def _successor_usable(state: TokenState, now: datetime) -> bool:
    """Only the immediate predecessor of a token nobody has used yet may be replayed: a
    token two generations old is theft even inside the grace window (its successor was
    used, so someone holds the newer pair), and so is one whose session has ended since."""
    return (
        state.successor_pair is not None
        and state.successor_used_at is None
        and state.successor_expires_at is not None and state.successor_expires_at > now
        and state.session_revoked_at is None and state.session_expires_at > now
        and state.user_active
    )
