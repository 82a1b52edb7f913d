"""Start sessions, mint access tokens, rotate refresh tokens, end sessions."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Protocol

from app.clock import Clock
from app.errors import InvalidGrant, InvalidScope, InvalidToken
from app.oauth.clients import ANONYMOUS_CLIENT_ID
from app.oauth.keys import KeyRing
from app.security.jwk import SigningKey
from app.security.jwt import AccessClaims, decode_access_token, encode_access_token, read_header
from app.security.tokens import hash_token, is_refresh_token, new_jti, new_refresh_token, new_session_id
from app.oauth import audit
from app.oauth.audit import Auditor, RequestContext
from app.store.audit import AuditRecord
from app.oauth.confirmations import Confirmations
from app.oauth.refresh_rule import STRICT, Outcome, ReusePolicy, decide
from app.security.sealing import seal, unseal
from app.store.sessions import (
    LiveSession, NewSession, RefreshTokenStore, Rotation, SessionInfo, SessionStore, TokenState,
)


VERIFIED_CACHE_SIZE = 10_000  # tokens whose signature was checked, keyed by SHA-256


@dataclass(frozen=True)
class Lifetimes:
    access: timedelta
    refresh: timedelta
    session_max: timedelta
    leeway: timedelta


@dataclass(frozen=True)
class IssuedTokens:
    access_token: str
    refresh_token: str
    expires_in: int
    refresh_expires_in: int
    session_expires_in: int
    scope: str
    session_id: str
    token_type: str = "Bearer"


@dataclass(frozen=True)
class Principal:
    """Who is calling a protected route."""

    user_id: int
    username: str
    session_id: str
    scopes: tuple[str, ...]
    claims: AccessClaims


def _cache_key(token: str) -> bytes:
    try:
        data = token.encode()  # CPython's fast path; an error handler alone costs ~0.4 µs
    except UnicodeEncodeError:  # a lone surrogate (from a JSON body): still a key, never a match
        data = token.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).digest()


class _Verified:
    """A token whose signature was checked, and the Principal last made of it with the
    session entry it was made from: the session cache answers with the same entry until
    it reads the row again, so a hit costs no new Principal."""

    __slots__ = ("claims", "expires_at", "live", "principal")

    def __init__(self, claims: AccessClaims, leeway: timedelta) -> None:
        self.claims = claims
        self.expires_at = claims.exp + leeway  # refused from this instant on
        self.live: LiveSession | None = None
        self.principal: Principal | None = None


class LiveCheck(Protocol):
    """Whether a session is live, as protected routes ask it (app.oauth.session_cache)."""

    async def live(self, session_id: str, now: datetime) -> LiveSession | None: ...

    def cached(self, session_id: str, now: datetime) -> LiveSession | None:
        """`live`'s answer when it is at hand without a read; None: ask `live`."""
        ...

    def evict(self, session_id: str) -> None: ...


class TokenIssuer:
    def __init__(
        self, *, tokens: RefreshTokenStore, sessions: SessionStore, live: LiveCheck, keys: KeyRing, clock: Clock,
        lifetimes: Lifetimes, issuer: str, audience: str,
        reuse: ReusePolicy = STRICT, auditor: Auditor | None = None, max_sessions: int | None = None,
    ) -> None:
        self._max_sessions = max_sessions
        self._reuse = reuse
        self._audit = auditor
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()
        self._tokens = tokens
        self._confirmations = Confirmations(tokens)
        self._sessions = sessions
        self._live = live
        self._keys = keys
        self._clock = clock
        self._life = lifetimes
        self._issuer = issuer
        self._audience = audience

    async def start_session(
        self, *, user_id: int, username: str, scope: str, client_id: str | None,
        context: RequestContext | None = None,
    ) -> IssuedTokens:
        key = await self._keys.signing_key()  # first: a store outage must fail before any write
        now = self._clock.now()
        expires_at = now + self._life.session_max
        refresh = new_refresh_token()
        info = SessionInfo(
            new_session_id(), user_id, username, scope, client_id, expires_at,
            min(now + self._life.refresh, expires_at),
        )
        # The audit row commits with the session: one transaction, not two.
        record = self._draft(audit.LOGIN_SUCCEEDED, context, info)
        # MAX_SESSIONS_PER_USER: starting one more ends the oldest, in the same transaction,
        # so a script that logs in without logging out cannot pile up sessions for ever.
        ended = await self._sessions.create(NewSession(
            session_id=info.id, user_id=user_id, scope=scope, client_id=client_id, now=now, expires_at=expires_at,
            refresh_hash=hash_token(refresh), refresh_expires_at=info.refresh_expires_at,
            user_agent=context.user_agent if context else None, ip=context.ip if context else None, audit=record,
            keep_live=None if self._max_sessions is None else self._max_sessions - 1,
        ))
        for session_id in ended:
            self._live.evict(session_id)
        if self._audit is not None and record is not None:
            self._audit.emit(record)
        return self._mint(info, refresh, scope, now, key)

    async def rotate(
        self, refresh_token: str, *, scope: list[str] | None = None, client_id: str | None = None,
        context: RequestContext | None = None,
    ) -> IssuedTokens:
        """RFC 6749 §6 with rotation (RFC 9700 §4.14.2): app.oauth.refresh_rule decides on
        the token's state; a refusal is InvalidGrant (InvalidScope for too wide a scope)."""
        if not is_refresh_token(refresh_token):
            raise InvalidGrant(_REFUSED[Outcome.UNKNOWN])
        key = await self._keys.signing_key()  # before the token is spent: an outage consumes nothing
        token_hash = hash_token(refresh_token)
        await self._confirmations.settled(token_hash)
        # A lost compare-and-set means another refresh claimed the token meanwhile: its
        # state is read again, and is then reuse (or, in the grace window, a replay).
        for _ in range(2):
            now = self._clock.now()
            state = await self._tokens.state(token_hash)
            outcome = decide(state, now=now, client_id=client_id, scope=scope, policy=self._reuse)
            if outcome is not Outcome.ROTATE or state is None:
                return await self._refuse(outcome, state, refresh_token, now, context)
            issued = await self._rotate(state, refresh_token, token_hash, scope, now, key, context)
            if issued is not None:
                return issued
        raise InvalidGrant(_REFUSED[Outcome.UNKNOWN])

    async def _rotate(
        self, state: TokenState, refresh_token: str, token_hash: str, scope: list[str] | None, now: datetime,
        key: SigningKey, context: RequestContext | None,
    ) -> IssuedTokens | None:
        """The successor pair, minted before the write so that the spent token keeps it
        sealed (only the spent token can open it) for a retry of this rotation
        (app.oauth.refresh_rule). None: lost the compare-and-set."""
        successor = new_refresh_token()
        info = state.session(min(now + self._life.refresh, state.session_expires_at))
        issued = self._mint(info, successor, _granted(info, scope), now, key)
        sealed = seal(refresh_token, json.dumps(asdict(issued)).encode())
        # The audit row commits with the rotation: one transaction, not two.
        record = self._draft(audit.REFRESHED, context, info)
        claimed = await self._tokens.rotate(Rotation(
            token_hash=token_hash, successor_hash=hash_token(successor), session_id=info.id, now=now,
            refresh_expires_at=info.refresh_expires_at, sealed_pair=sealed, audit=record,
        ))
        if not claimed:
            return None
        self._confirmations.add(token_hash, now)  # the answer is in hand: a reuse from now on is one
        if self._audit is not None and record is not None:
            self._audit.emit(record)
        return issued

    async def _refuse(
        self, outcome: Outcome, state: TokenState | None, refresh_token: str, now: datetime,
        context: RequestContext | None,
    ) -> IssuedTokens:
        """A grace-period replay gets its pair back; everything else is an error, and reuse
        under the enforcing policy revokes the session first (committed before raising)."""
        session_id = state.session_id if state is not None else None
        if outcome is Outcome.REPLAY and state is not None and state.successor_pair is not None:
            opened = unseal(refresh_token, state.successor_pair)
            if opened is not None:
                await self._record(audit.GRACE_RETRY, context, session_id=session_id)
                return IssuedTokens(**json.loads(opened))
            outcome = Outcome.REVOKE if self._reuse.enforce else Outcome.REPORT
        if outcome is Outcome.SCOPE:
            raise InvalidScope()
        if outcome is Outcome.REVOKE and session_id is not None:
            await self.revoke_session(session_id, now, "reuse")
        if outcome in _EVENTS:
            await self._record(_EVENTS[outcome], context, session_id=session_id)
        raise InvalidGrant(_REFUSED[outcome])

    async def drain(self) -> None:
        """Shutdown and tests: write the confirmations still waiting."""
        await self._confirmations.drain()

    async def revoke_session(self, session_id: str, now: datetime, reason: str) -> bool:
        """Ends the session in the database and in this process's cache at once."""
        self._live.evict(session_id)
        return await self._sessions.revoke(session_id, now, reason)

    def _draft(self, event: str, context: RequestContext | None, info: SessionInfo) -> AuditRecord | None:
        if self._audit is None:
            return None
        return self._audit.draft(event, context, user_id=info.user_id, username=info.username, session_id=info.id)

    async def _record(self, event: str, context: RequestContext | None, **fields: object) -> None:
        if self._audit is not None:
            await self._audit.record(event, context, **fields)  # type: ignore[arg-type]

    def _mint(self, info: SessionInfo, refresh: str, scope: str, now: datetime, key: SigningKey) -> IssuedTokens:
        access = encode_access_token(
            sub=str(info.user_id), sid=info.id, jti=new_jti(), scope=scope, issued_at=now,
            lifetime=self._life.access, key=key.private, algorithm=key.algorithm, kid=key.kid,
            client_id=info.client_id or ANONYMOUS_CLIENT_ID, issuer=self._issuer, audience=self._audience,
        )
        return IssuedTokens(
            access_token=access,
            refresh_token=refresh,
            expires_in=max(1, round(self._life.access.total_seconds())),
            refresh_expires_in=_seconds_until(info.refresh_expires_at, now),
            session_expires_in=_seconds_until(info.expires_at, now),
            scope=scope,
            session_id=info.id,
        )

    def cached_principal(self, access_token: str, now: datetime) -> Principal | None:
        """`authenticate`'s answer when nothing needs verifying or reading — a token seen
        before whose session entry is cached and unchanged — without awaiting anything:
        the protected-route hot path. None: ask `authenticate`. Raises InvalidToken for
        an expired token, as `authenticate` would."""
        entry = self._verified.get(_cache_key(access_token))
        if entry is None or entry.principal is None:
            return None
        if now >= entry.expires_at:
            raise InvalidToken("The access token has expired.")
        if self._live.cached(entry.claims.sid, now) is not entry.live:
            return None  # re-read, evicted or ended: authenticate decides
        return entry.principal

    async def authenticate(self, access_token: str, now: datetime | None = None) -> Principal:
        """Signature and expiry, then the session must still be live: that check is what
        makes logout and reuse revocation take effect at once."""
        if now is None:
            now = self._clock.now()
        entry = await self._checked(access_token, now)
        live = await self._live.live(entry.claims.sid, now)
        if live is None or live is not entry.live:
            claims = entry.claims
            if live is None or str(live.user_id) != claims.sub:
                raise InvalidToken("The session has ended.")
            entry.live, entry.principal = live, Principal(
                user_id=live.user_id, username=live.username, session_id=live.id,
                scopes=tuple(claims.scope.split()), claims=claims,
            )
        assert entry.principal is not None  # made with entry.live, above or on an earlier hit
        return entry.principal

    async def end_session(self, token: str, context: RequestContext | None = None) -> None:
        """Logout with an access or refresh token. A genuine token of an ended session
        succeeds again (idempotent); a token that is not ours raises InvalidToken.
        An expired but genuine access token may still end its session."""
        if is_refresh_token(token):
            state = await self._tokens.state(hash_token(token))
            session_id = state.session_id if state is not None else None
        else:
            session_id = (await self.verify(token, verify_exp=False)).sid
            if not (await self._sessions.owner(session_id))[0]:
                session_id = None
        if session_id is None:
            raise InvalidToken()
        if await self.revoke_session(session_id, self._clock.now(), "logout"):
            await self._record(audit.LOGOUT, context, session_id=session_id)

    async def verify(self, token: str, *, verify_exp: bool = True) -> AccessClaims:
        """Signature, type, issuer, audience and (unless told otherwise) expiry; not the
        session. The key is the one the `kid` names, and only its own algorithm is
        accepted: no `none`, no HS256 signed with a public key (RFC 8725 §2.1)."""
        return (await self._checked(token, self._clock.now() if verify_exp else None)).claims

    async def _checked(self, token: str, now: datetime | None) -> _Verified:
        """`verify`, with its cache entry; expiry is checked against `now` unless None."""
        cache_key = _cache_key(token)
        cached = self._verified.get(cache_key)
        if cached is not None:
            if now is not None and now >= cached.expires_at:
                raise InvalidToken("The access token has expired.")
            return cached
        header = read_header(token)
        key = await self._keys.verification_key(header.kid) if header.kid else None
        if key is None or header.alg != key.algorithm:
            raise InvalidToken()
        claims = decode_access_token(
            token, key=key.key, algorithms=[key.algorithm], clock=self._clock,
            leeway=self._life.leeway.total_seconds(), verify_exp=now is not None,
            issuer=self._issuer, audience=self._audience,
        )
        # A signature verified once stays verified; only expiry changes (checked above).
        entry = self._verified[cache_key] = _Verified(claims, self._life.leeway)
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return entry

    async def session_live(self, claims: AccessClaims) -> LiveSession | None:
        live = await self._live.live(claims.sid, self._clock.now())
        return live if live is not None and str(live.user_id) == claims.sub else None


_REFUSED = {
    Outcome.UNKNOWN: "The refresh token is invalid.",
    Outcome.EXPIRED_IDLE: "The refresh token has expired.",
    Outcome.EXPIRED_ABSOLUTE: "The session has expired.",
    Outcome.ENDED: "The session has ended.",
    Outcome.REVOKE: "The refresh token was already used; the session is revoked.",
    Outcome.REPORT: "The refresh token was already used.",
    Outcome.REPLAY: "The refresh token was already used.",
    Outcome.WRONG_CLIENT: "The refresh token was issued to another client.",
}
_EVENTS = {
    Outcome.REVOKE: audit.REUSE_DETECTED,
    Outcome.REPORT: audit.REUSE_REPORTED,
    Outcome.EXPIRED_IDLE: audit.EXPIRED_IDLE,
    Outcome.EXPIRED_ABSOLUTE: audit.EXPIRED_ABSOLUTE,
}


def _granted(info: SessionInfo, scope: list[str] | None) -> str:
    return info.scope if scope is None else " ".join(scope)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(0, int((moment - now).total_seconds()))
