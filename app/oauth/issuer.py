"""Start sessions, mint access tokens, rotate refresh tokens, end sessions."""

from __future__ import annotations

import hashlib
import json
from collections import OrderedDict
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta

from app.clock import Clock
from app.errors import InvalidGrant, InvalidScope, InvalidToken
from app.oauth.clients import ANONYMOUS_CLIENT_ID
from app.oauth.keys import KeyRing
from app.security.jwk import SigningKey
from app.security.jwt import AccessClaims, decode_access_token, encode_access_token, read_header
from app.security.tokens import hash_token, is_refresh_token, new_jti, new_refresh_token, new_session_id
from app.oauth import audit
from app.oauth.audit import Auditor, RequestContext
from app.security.sealing import seal, unseal
from app.store.reuse import STRICT, ReusePolicy
from app.store.session_info import SessionInfo
from app.store.sessions import LiveSession, RotateFailure, RotateOutcome, SessionStore


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


class TokenIssuer:
    def __init__(
        self, *, store: SessionStore, keys: KeyRing, clock: Clock,
        lifetimes: Lifetimes, issuer: str, audience: str,
        reuse: ReusePolicy = STRICT, auditor: Auditor | None = None,
    ) -> None:
        self._reuse = reuse
        self._audit = auditor
        self._verified: OrderedDict[bytes, _Verified] = OrderedDict()
        self._store = store
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
        # The audit row commits with the session: one transaction, not two.
        record = self._audit.draft(audit.LOGIN_SUCCEEDED, context, username=username) if self._audit else None
        info = await self._store.create(
            session_id=new_session_id(), user_id=user_id, username=username, scope=scope,
            client_id=client_id, now=now, expires_at=expires_at, refresh_hash=hash_token(refresh),
            refresh_expires_at=min(now + self._life.refresh, expires_at),
            user_agent=context.user_agent if context else None, ip=context.ip if context else None,
            audit=record,
        )
        if self._audit is not None and record is not None:
            self._audit.emit(replace(record, user_id=user_id, session_id=info.id))
        return self._mint(info, refresh, scope, now, key)

    async def rotate(
        self, refresh_token: str, *, scope: list[str] | None = None, client_id: str | None = None,
        context: RequestContext | None = None,
    ) -> IssuedTokens:
        """Raises InvalidGrant for an unknown, expired, ended or reused token; on reuse the
        store has already revoked the session (RFC 6819 §5.2.2.3, RFC 9700 §4.14.2). A
        token issued to a registered client refreshes only for that client (RFC 6749 §6)."""
        if not is_refresh_token(refresh_token):
            raise InvalidGrant("The refresh token is invalid.")
        key = await self._keys.signing_key()  # before the token is spent: an outage consumes nothing
        now = self._clock.now()
        successor = new_refresh_token()
        minted: list[IssuedTokens] = []

        def seal_pair(info: SessionInfo) -> str:
            minted.append(self._mint(info, successor, _granted(info, scope), now, key))
            return seal(refresh_token, json.dumps(asdict(minted[0])).encode())

        # The audit row commits with the rotation: one transaction, not two.
        record = self._audit.draft(audit.REFRESHED, context) if self._audit is not None else None
        outcome = await self._store.rotate(
            token_hash=hash_token(refresh_token), successor_hash=hash_token(successor),
            now=now, refresh_lifetime=self._life.refresh, narrow_to=scope, client_id=client_id,
            policy=self._reuse, seal=seal_pair if self._reuse.grace else None, audit=record,
        )
        if outcome.session is not None:
            if self._audit is not None and record is not None:
                info = outcome.session
                self._audit.emit(replace(record, user_id=info.user_id, username=info.username, session_id=info.id))
            return minted[0] if minted else self._mint(outcome.session, successor, _granted(outcome.session, scope), now, key)
        return await self._refused(outcome, refresh_token, context)

    async def _refused(self, outcome: RotateOutcome, refresh_token: str, context: RequestContext | None) -> IssuedTokens:
        """A grace-period retry gets its pair back; everything else is an error."""
        if outcome.sealed_pair is not None:
            opened = unseal(refresh_token, outcome.sealed_pair)
            if opened is not None:
                await self._record(audit.GRACE_RETRY, context, session_id=outcome.session_id)
                return IssuedTokens(**json.loads(opened))
        if outcome.failure is RotateFailure.SCOPE:
            raise InvalidScope()
        if outcome.failure is RotateFailure.REUSED:
            event = audit.REUSE_REPORTED if outcome.reported else audit.REUSE_DETECTED
            await self._record(event, context, session_id=outcome.session_id)
        elif outcome.failure in _EXPIRY_EVENTS:
            await self._record(_EXPIRY_EVENTS[outcome.failure], context, session_id=outcome.session_id)
        raise InvalidGrant(_FAILURE_TEXT[outcome.failure or RotateFailure.UNKNOWN])

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
        if self._store.cached(entry.claims.sid, now) is not entry.live:
            return None  # re-read, evicted or ended: authenticate decides
        return entry.principal

    async def authenticate(self, access_token: str, now: datetime | None = None) -> Principal:
        """Signature and expiry, then the session must still be live: that check is what
        makes logout and reuse revocation take effect at once."""
        if now is None:
            now = self._clock.now()
        entry = await self._checked(access_token, now)
        live = await self._store.live(entry.claims.sid, now)
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
            session_id = await self._store.session_of_refresh(hash_token(token))
        else:
            session_id = (await self.verify(token, verify_exp=False)).sid
            if not await self._store.exists(session_id):
                session_id = None
        if session_id is None:
            raise InvalidToken()
        if await self._store.revoke(session_id, self._clock.now(), "logout"):
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
        live = await self._store.live(claims.sid, self._clock.now())
        return live if live is not None and str(live.user_id) == claims.sub else None


_FAILURE_TEXT = {
    RotateFailure.UNKNOWN: "The refresh token is invalid.",
    RotateFailure.EXPIRED: "The refresh token has expired.",
    RotateFailure.SESSION_EXPIRED: "The session has expired.",
    RotateFailure.ENDED: "The session has ended.",
    RotateFailure.REUSED: "The refresh token was already used; the session is revoked.",
    RotateFailure.SCOPE: "The requested scope exceeds the original grant.",
    RotateFailure.CLIENT: "The refresh token was issued to another client.",
}


_EXPIRY_EVENTS = {RotateFailure.EXPIRED: audit.EXPIRED_IDLE, RotateFailure.SESSION_EXPIRED: audit.EXPIRED_ABSOLUTE}


def _granted(info: SessionInfo, scope: list[str] | None) -> str:
    return info.scope if scope is None else " ".join(scope)


def _seconds_until(moment: datetime, now: datetime) -> int:
    return max(0, int((moment - now).total_seconds()))
