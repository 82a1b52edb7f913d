"""Access tokens as signed JWTs (RFC 7519), typed `at+jwt` (RFC 9068 §2.1)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt as pyjwt

from app.clock import Clock
from app.errors import InvalidToken

ACCESS_TYP = "at+jwt"
MAX_TOKEN_LENGTH = 4096  # larger than any token we mint; a bigger one is garbage, not work
REQUIRED = ["sub", "sid", "exp", "iat", "jti"]


@dataclass(frozen=True)
class AccessClaims:
    sub: str
    sid: str
    jti: str
    scope: str
    iat: datetime
    exp: datetime
    client_id: str | None = None


def encode_access_token(
    *,
    sub: str,
    sid: str,
    jti: str,
    scope: str,
    issued_at: datetime,
    lifetime: timedelta,
    key: str,
    algorithm: str,
    client_id: str | None = None,
) -> str:
    iat = int(issued_at.timestamp())
    payload: dict[str, Any] = {
        "sub": sub,
        "sid": sid,
        "jti": jti,
        "scope": scope,
        "iat": iat,
        # exp - iat is exactly the configured lifetime (contract §4), rounded to a second.
        "exp": iat + max(1, round(lifetime.total_seconds())),
    }
    if client_id:
        payload["client_id"] = client_id
    return pyjwt.encode(payload, key, algorithm=algorithm, headers={"typ": ACCESS_TYP})


def decode_access_token(
    token: str,
    *,
    key: str,
    algorithms: list[str],
    clock: Clock,
    leeway: float,
    verify_exp: bool = True,
) -> AccessClaims:
    """PyJWT checks exp/iat against the wall clock, which tests cannot move. So PyJWT
    verifies the signature, the pinned algorithms and the required claims; exp/iat are
    checked here against the injected clock, with the configured leeway. `verify_exp=False`
    serves logout only, where a genuine but expired token may still end its session."""
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken()
    try:
        header = pyjwt.get_unverified_header(token)
        if header.get("typ") != ACCESS_TYP:
            raise InvalidToken()
        claims = pyjwt.decode(
            token,
            key,
            algorithms=algorithms,
            options={
                "require": REQUIRED,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except (pyjwt.PyJWTError, ValueError, TypeError, UnicodeError):
        raise InvalidToken() from None
    try:
        iat = datetime.fromtimestamp(int(claims["iat"]), timezone.utc)
        exp = datetime.fromtimestamp(int(claims["exp"]), timezone.utc)
        result = AccessClaims(
            sub=_text(claims["sub"]),
            sid=_text(claims["sid"]),
            jti=_text(claims["jti"]),
            scope=str(claims.get("scope") or ""),
            iat=iat,
            exp=exp,
            client_id=claims.get("client_id"),
        )
    except (TypeError, ValueError, OverflowError, OSError):
        raise InvalidToken() from None
    now = clock.now()
    slack = timedelta(seconds=leeway)
    if verify_exp and now >= exp + slack:
        raise InvalidToken("The access token has expired.")
    if iat > now + slack:
        raise InvalidToken("The access token is not valid yet.")
    return result


def _text(value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("claim must be a non-empty string")
    return value
