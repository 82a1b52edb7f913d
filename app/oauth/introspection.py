"""RFC 7662 token introspection and RFC 7009 revocation, for either kind of token.

The token's own format says what it is (refresh tokens are `rt_…`, access tokens JWTs),
so `token_type_hint` is never needed and a wrong one does no harm (RFC 7009 §2.1).
Whatever is not a live token of ours is simply inactive: introspection answers
`{"active": false}` and revocation succeeds without doing anything (RFC 7009 §2.2), so
neither tells a prober more than that.
"""

from __future__ import annotations

from datetime import datetime

from app.clock import Clock
from app.errors import InvalidToken
from app.oauth import audit
from app.oauth.audit import Auditor, RequestContext
from app.oauth.clients import Client
from app.oauth.issuer import TokenIssuer
from app.security.tokens import hash_token, is_refresh_token
from app.oauth.refresh_rule import is_active
from app.store.sessions import RefreshTokenStore, SessionStore

INACTIVE: dict[str, object] = {"active": False}


class TokenInspector:
    def __init__(
        self, *, issuer: TokenIssuer, tokens: RefreshTokenStore, sessions: SessionStore, clock: Clock,
        auditor: Auditor | None = None,
    ) -> None:
        self._audit = auditor
        self._issuer = issuer
        self._tokens = tokens
        self._sessions = sessions
        self._clock = clock

    async def introspect(self, token: str, client: Client) -> dict[str, object]:
        """Access tokens are answered to any authenticated client (resource servers ask
        about tokens issued to others); a refresh token only to the client it belongs to."""
        if is_refresh_token(token):
            state = await self._tokens.state(hash_token(token))
            if state is None or not is_active(state, self._clock.now()) or state.bound_to not in (None, client.client_id):
                return INACTIVE
            return {
                "active": True, "scope": state.scope, "client_id": state.client_id,
                "username": state.username, "sub": str(state.user_id), "sid": state.session_id,
                "iat": _seconds(state.issued_at), "exp": _seconds(state.expires_at),
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
            state = await self._tokens.state(hash_token(token))
            if state is None:
                return
            session_id, owner = state.session_id, state.bound_to
        else:
            try:
                claims = await self._issuer.verify(token, verify_exp=False)
            except InvalidToken:
                return
            exists, owner = await self._sessions.owner(claims.sid)
            if not exists:
                return
            session_id = claims.sid
        if owner is not None and owner != client.client_id:
            return
        if await self._issuer.revoke_session(session_id, self._clock.now(), "revocation") and self._audit is not None:
            await self._audit.record(audit.REVOKED, RequestContext(client_id=client.client_id), session_id=session_id)


def _seconds(moment: datetime) -> int:
    return int(moment.timestamp())
