"""RFC 7662 token introspection and RFC 7009 revocation, for either kind of token.

The token's own format says what it is (refresh tokens are `rt_…`, access tokens JWTs),
so `token_type_hint` is never needed and a wrong one does no harm (RFC 7009 §2.1).
Whatever is not a live token of ours is simply inactive: introspection answers
`{"active": false}` and revocation succeeds without doing anything (RFC 7009 §2.2), so
neither tells a prober more than that.
"""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from app.clock import Clock
from app.errors import InvalidToken
from app.oauth import audit
from app.oauth.audit import Auditor, RequestContext
from app.oauth.clients import Client
from app.oauth.issuer import TokenIssuer
from app.security.tokens import hash_token, is_refresh_token
from app.store.sessions import SessionStore
from app.store.token_lookup import RefreshStatus

INACTIVE: dict[str, object] = {"active": False}


class TokenLookup(Protocol):
    async def refresh_status(self, token_hash: str, now: datetime) -> RefreshStatus | None: ...

    async def session_owner(self, session_id: str) -> tuple[bool, str | None]: ...


class TokenInspector:
    def __init__(
        self, *, issuer: TokenIssuer, lookup: TokenLookup, sessions: SessionStore, clock: Clock,
        auditor: Auditor | None = None,
    ) -> None:
        self._audit = auditor
        self._issuer = issuer
        self._lookup = lookup
        self._sessions = sessions
        self._clock = clock

    async def introspect(self, token: str, client: Client) -> dict[str, object]:
        """Access tokens are answered to any authenticated client (resource servers ask
        about tokens issued to others); a refresh token only to the client it belongs to."""
        if is_refresh_token(token):
            status = await self._lookup.refresh_status(hash_token(token), self._clock.now())
            if status is None or not status.active or status.owner not in (None, client.client_id):
                return INACTIVE
            return {
                "active": True, "scope": status.scope, "client_id": status.client_id,
                "username": status.username, "sub": str(status.user_id), "sid": status.session_id,
                "iat": _seconds(status.issued_at), "exp": _seconds(status.expires_at),
            }
        try:
            claims = await self._issuer.verify(token)
        except InvalidToken:
            return INACTIVE
        live = await self._issuer.session_live(claims)
        if live is None:
            return INACTIVE
        return {
            "active": True, "scope": claims.scope, "client_id": claims.client_id, "username": live.username,
            "token_type": "Bearer", "sub": claims.sub, "sid": claims.sid, "jti": claims.jti,
            "iss": claims.iss, "aud": claims.aud[0] if len(claims.aud) == 1 else list(claims.aud),
            "iat": _seconds(claims.iat), "exp": _seconds(claims.exp),
        }

    async def revoke(self, token: str, client: Client) -> None:
        """Either kind of token ends its whole session (RFC 7009 §2.1 allows revoking the
        grant), which every protected route of this server sees at once. A token of a
        session that belongs to another registered client is left alone."""
        if is_refresh_token(token):
            status = await self._lookup.refresh_status(hash_token(token), self._clock.now())
            if status is None:
                return
            session_id, owner = status.session_id, status.owner
        else:
            try:
                claims = await self._issuer.verify(token, verify_exp=False)
            except InvalidToken:
                return
            exists, owner = await self._lookup.session_owner(claims.sid)
            if not exists:
                return
            session_id = claims.sid
        if owner is not None and owner != client.client_id:
            return
        if await self._sessions.revoke(session_id, self._clock.now(), "revocation") and self._audit is not None:
            await self._audit.record(audit.REVOKED, RequestContext(client_id=client.client_id), session_id=session_id)


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
