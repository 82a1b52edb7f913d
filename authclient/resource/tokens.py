"""Access tokens as the token server mints them: signed JWTs (RFC 7519) in the RFC 9068
profile, typed `at+jwt`, with `iss`, `sub`, `aud`, `exp`, `iat`, `jti`, `client_id`,
`scope` and the server's session id `sid`.

Verification follows RFC 8725: the header is read first only to pick a key (a `kid`
that is a plain identifier) and to check the type; the signature is then checked with
the algorithm of that key, never one the token chooses. These are the rules the token
server applies to its own tokens; this module restates them because a service installs
this package without the server, whose code it must not import.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Protocol

import jwt as pyjwt

from authclient.resource.errors import InsufficientScope, InvalidToken

ACCESS_TYP = "at+jwt"
MAX_TOKEN_LENGTH = 4096  # larger than any token the server mints; a bigger one is garbage
REQUIRED = ["sub", "sid", "exp", "iat", "jti", "iss", "aud"]
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What parsing an untrusted token can raise: PyJWT's own errors, and what the JSON and
# base64 decoders under it let through (RecursionError for deeply nested JSON).
_MALFORMED = (pyjwt.PyJWTError, ValueError, TypeError, RecursionError)


class Clock(Protocol):
    def now(self) -> datetime:
        """An aware UTC datetime."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(timezone.utc)


@dataclass(frozen=True)
class AccessClaims:
    sub: str
    sid: str
    jti: str
    scope: str
    iat: datetime
    exp: datetime
    client_id: str | None = None
    iss: str | None = None
    aud: tuple[str, ...] = ()

    @property
    def scopes(self) -> tuple[str, ...]:
        return tuple(self.scope.split())


@dataclass(frozen=True)
class TokenHeader:
    alg: str
    kid: str | None


def read_header(token: str) -> TokenHeader:
    """The unverified header, only to choose a key: typed `at+jwt` (RFC 9068 §4), and a
    `kid` that is a plain identifier, so a path, a URL or a query in it never reaches a
    key lookup (RFC 8725 §3.10). Whatever the token holds, the only failure is
    InvalidToken: a 401, never a 500."""
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidToken()
    try:
        header = pyjwt.get_unverified_header(token)
    except _MALFORMED:
        raise InvalidToken() from None
    alg, kid = header.get("alg"), header.get("kid")
    if header.get("typ") != ACCESS_TYP or not isinstance(alg, str):
        raise InvalidToken()
    if kid is not None and (not isinstance(kid, str) or not KID_PATTERN.match(kid)):
        raise InvalidToken()
    return TokenHeader(alg=alg, kid=kid)


def decode_access_token(
    token: str, *, key: Any, algorithm: str, issuer: str, audience: str, clock: Clock, leeway: float,
) -> AccessClaims:
    """PyJWT verifies the signature with the one algorithm, `iss`, `aud` and the required
    claims; exp/iat/nbf are checked here against the injected clock (which tests can
    move), with the leeway."""
    try:
        claims = pyjwt.decode(
            token, key, algorithms=[algorithm], issuer=issuer, audience=audience,
            options={"require": REQUIRED, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except _MALFORMED:
        raise InvalidToken() from None
    try:
        iat, exp = _numeric_date(claims["iat"]), _numeric_date(claims["exp"])
        nbf = _numeric_date(claims["nbf"]) if "nbf" in claims else None
        result = AccessClaims(
            sub=_text(claims["sub"]), sid=_text(claims["sid"]), jti=_text(claims["jti"]),
            scope=_optional_text(claims.get("scope") or None) or "", iat=iat, exp=exp,
            client_id=_optional_text(claims.get("client_id")), iss=_optional_text(claims.get("iss")),
            aud=_audiences(claims.get("aud")),
        )
    except (TypeError, ValueError, OverflowError, OSError):
        raise InvalidToken() from None
    now, slack = clock.now(), timedelta(seconds=leeway)
    if now >= exp + slack:
        raise InvalidToken("The access token has expired.")
    if iat > now + slack or (nbf is not None and nbf > now + slack):
        raise InvalidToken("The access token is not valid yet.")
    return result


def _numeric_date(value: object) -> datetime:
    """RFC 7519 §2 NumericDate: a JSON number, not a numeric string nor a boolean."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError("a NumericDate must be a JSON number")
    return datetime.fromtimestamp(int(value), timezone.utc)


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("claim must be a non-empty string")
    return value


def _optional_text(value: object) -> str | None:
    return None if value is None else _text(value)


def _audiences(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError("aud must be a string or a list of strings")


def check_scopes(needed: list[str], granted: tuple[str, ...]) -> None:
    """RFC 6750 §3.1: a valid token without every needed scope is insufficient_scope."""
    if not set(needed) <= set(granted):
        raise InsufficientScope(needed)
