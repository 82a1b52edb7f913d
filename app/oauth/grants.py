"""RFC 6749 grants keyed by grant_type: §4.3 password and §6 refresh_token.

A grant takes plain values (a TokenRequest) and returns IssuedTokens; HTTP parsing and
error rendering happen in app.api.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from app.errors import InvalidGrant, InvalidRequest, InvalidScope, UnauthorizedClient, UnsupportedGrantType
from app.oauth.clients import ANONYMOUS, Client
from app.errors import RateLimited
from app.oauth import audit
from app.oauth.audit import Auditor, RequestContext
from app.oauth.issuer import IssuedTokens, TokenIssuer
from app.oauth.password_check import PasswordCheck
from app.oauth.ratelimit import LoginRateLimiter
from app.oauth.validation import MAX_PASSWORD, MAX_USERNAME, is_scope_token
from app.security.passwords import PasswordHasher
from app.store.users import UserStore


@dataclass(frozen=True)
class TokenRequest:
    grant_type: str
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None
    scope: str | None = None
    client_id: str | None = None
    client_ip: str | None = None
    client: Client = ANONYMOUS  # as authenticated by the token endpoint; /login and /refresh name none
    user_agent: str | None = None

    @property
    def context(self) -> RequestContext:
        return RequestContext(ip=self.client_ip, user_agent=self.user_agent, client_id=self.client_id)


class Grant(Protocol):
    async def __call__(self, request: TokenRequest) -> IssuedTokens: ...


def parse_scope(scope: str | None) -> list[str] | None:
    """RFC 6749 §3.3: space-delimited, case-sensitive tokens of %x21 / %x23-5B / %x5D-7E."""
    if scope is None:
        return None
    parts = scope.split(" ")
    if not all(is_scope_token(p) for p in parts):
        raise InvalidScope("The scope is malformed.")
    return list(dict.fromkeys(parts))


def narrow_scope(requested: str | None, allowed: str, *, partial: bool = False) -> str:
    """The scope to grant: all that is allowed when none is requested, else the request.
    A request wider than allowed is invalid_scope, unless `partial`: then the requested
    scopes that are allowed are granted, as RFC 6749 §3.3 lets the server "fully or
    partially ignore the scope requested" (the response then names the scope issued, as
    ours always does). A request of which nothing is allowed is invalid_scope all the same."""
    wanted = parse_scope(requested)
    if wanted is None:
        return allowed
    granted = [s for s in wanted if s in allowed.split()]
    if len(granted) < len(wanted) and not (partial and granted):
        raise InvalidScope()
    return " ".join(granted)


class PasswordGrant:
    """Unknown user, disabled user and wrong password take the same path through the
    same password verifications (app.oauth.password_check) and end in the same error,
    so neither body nor timing tells them apart."""

    def __init__(
        self, *, users: UserStore, hasher: PasswordHasher, issuer: TokenIssuer,
        limiter: LoginRateLimiter, auditor: Auditor | None = None,
    ) -> None:
        self._audit = auditor
        self._users = users
        self._check = PasswordCheck(hasher, users)
        self._issuer = issuer
        self._limiter = limiter

    async def __call__(self, request: TokenRequest) -> IssuedTokens:
        if request.username is None or request.password is None:
            raise InvalidRequest("username and password are required.")
        username, password = request.username, request.password
        if not username or len(username) > MAX_USERNAME or len(password) > MAX_PASSWORD:
            raise InvalidGrant("Invalid username or password.")
        try:
            attempt = await self._limiter.check(username, request.client_ip)  # counted as a failure
        except RateLimited:
            await self._record(audit.RATE_LIMITED, request, username=audit.attempted_name(username))
            raise
        user = await self._users.get_by_username(username)
        stored = user.password_hash if user is not None and user.is_active else None
        ok, upgraded = await attempt.hashing(self._check.verify(password, stored))
        if user is None:  # the raw name might be a password typed in the wrong field
            await self._record(audit.LOGIN_FAILED, request, username=audit.attempted_name(username), detail="unknown user")
            raise InvalidGrant("Invalid username or password.")
        if not user.is_active:
            await self._record(audit.LOGIN_FAILED, request, user_id=user.id, username=user.username, detail="disabled user")
            raise InvalidGrant("Invalid username or password.")
        if not ok:
            await self._record(audit.LOGIN_FAILED, request, user_id=user.id, username=user.username, detail="wrong password")
            raise InvalidGrant("Invalid username or password.")
        await attempt.succeeded()  # successes never count
        if upgraded:
            await self._users.set_password_hash(user.id, upgraded)
        # Only a registered client is held to the exact scope it asks for; without one (the
        # docs' Authorize dialog with "select all", a script asking for every scope) the
        # user gets those of the requested scopes they have.
        scope = narrow_scope(
            request.scope, request.client.limit_scope(user.scope), partial=not request.client.registered,
        )
        return await self._issuer.start_session(
            user_id=user.id, username=user.username, scope=scope, client_id=request.client_id,
            context=request.context,
        )

    async def _record(self, event: str, request: TokenRequest, **fields: object) -> None:
        if self._audit is not None:
            await self._audit.record(event, request.context, **fields)  # type: ignore[arg-type]


class RefreshTokenGrant:
    """Shared by the token endpoint and /refresh. A narrower scope applies to the new
    access token; the session keeps its original grant (RFC 6749 §6)."""

    def __init__(self, *, issuer: TokenIssuer) -> None:
        self._issuer = issuer

    async def __call__(self, request: TokenRequest) -> IssuedTokens:
        if not request.refresh_token:
            raise InvalidRequest("refresh_token is required.")
        # Scope is checked before the token is spent: malformed here, too wide in the store.
        return await self._issuer.rotate(
            request.refresh_token, scope=parse_scope(request.scope), client_id=request.client.client_id,
            context=request.context,
        )


class Grants:
    def __init__(self, grants: dict[str, Grant]) -> None:
        self._grants = grants

    @property
    def types(self) -> list[str]:
        return list(self._grants)

    async def issue(self, request: TokenRequest) -> IssuedTokens:
        grant = self._grants.get(request.grant_type)
        if grant is None:
            raise UnsupportedGrantType()
        if not request.client.allows_grant(request.grant_type):
            raise UnauthorizedClient()
        return await grant(request)
