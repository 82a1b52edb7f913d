"""Access tokens as signed JWTs (RFC 7519) in the RFC 9068 profile: typed `at+jwt`,
with `iss`, `sub`, `aud`, `exp`, `iat`, `jti`, `client_id`, `scope` and our session `sid`.

PyJWT encodes and verifies them. Verification follows RFC 8725: the header is read first
only to pick a key (`kid`, checked to be a plain identifier) and to check the type; the
signature is then checked with the algorithm of that key, never one the token chooses.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt as pyjwt
from jwt.algorithms import HMACAlgorithm

from app.clock import Clock
from app.errors import InsufficientScope, InvalidToken

ACCESS_TYP = "at+jwt"
MAX_TOKEN_LENGTH = 4096  # larger than any token we mint; a bigger one is garbage, not work
REQUIRED = ["sub", "sid", "exp", "iat", "jti"]
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
# What parsing an untrusted token can raise: PyJWT's own errors, and what the JSON and
# base64 decoders under it let through (RecursionError for deeply nested JSON).
_MALFORMED = (pyjwt.PyJWTError, ValueError, TypeError, RecursionError)


class _CheckedHMAC(HMACAlgorithm):
    """PyJWT's HMAC algorithm, remembering the secrets it has checked. PyJWT checks on
    every signature that an HMAC secret is not an asymmetric key (PEM, SSH, DER) nor JSON;
    the server signs with a few fixed secrets, so each is checked once."""

    REMEMBERED = 16  # secrets; more than a server rotates through

    def __init__(self, hash_alg: Any) -> None:
        super().__init__(hash_alg)
        self._checked: dict[str | bytes, bytes] = {}

    def prepare_key(self, key: str | bytes) -> bytes:
        checked = self._checked.get(key)
        if checked is None:
            checked = super().prepare_key(key)  # raises for a key that is no HMAC secret
            if len(self._checked) >= self.REMEMBERED:
                self._checked.clear()
            self._checked[key] = checked
        return checked


def _signer() -> pyjwt.PyJWS:
    """A PyJWS of our own (PyJWT's global one stays as it is) with _CheckedHMAC for HS*."""
    jws = pyjwt.PyJWS()
    for name, hash_alg in (("HS256", HMACAlgorithm.SHA256), ("HS384", HMACAlgorithm.SHA384),
                           ("HS512", HMACAlgorithm.SHA512)):
        jws.unregister_algorithm(name)
        jws.register_algorithm(name, _CheckedHMAC(hash_alg))
    return jws


_SIGNER = _signer()


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
    """The unverified header, only to choose a key: typed `at+jwt` (RFC 9068 §4, so an ID
    token or any other JWT is refused), and a `kid` that is a plain identifier, so a path,
    a URL or a query in it never reaches a key lookup (RFC 8725 §3.10). Whatever the
    token holds, the only failure is InvalidToken: a 401, never a 500."""
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


def encode_access_token(
    *,
    sub: str,
    sid: str,
    jti: str,
    scope: str,
    issued_at: datetime,
    lifetime: timedelta,
    key: Any,
    algorithm: str,
    client_id: str | None = None,
    kid: str | None = None,
    issuer: str | None = None,
    audience: str | None = None,
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
    if issuer:
        payload["iss"] = issuer
    if audience:
        payload["aud"] = audience
    headers = {"typ": ACCESS_TYP, **({"kid": kid} if kid else {})}
    # what pyjwt.encode does with a payload of numbers and strings, on our PyJWS
    return _SIGNER.encode(json.dumps(payload, separators=(",", ":")).encode(), key, algorithm=algorithm, headers=headers)


def decode_access_token(
    token: str,
    *,
    key: Any,
    algorithms: list[str],
    clock: Clock,
    leeway: float,
    verify_exp: bool = True,
    issuer: str | None = None,
    audience: str | None = None,
) -> AccessClaims:
    """PyJWT checks exp/iat/nbf against the wall clock, which tests cannot move. So PyJWT
    verifies the signature, the pinned algorithms, `iss`, `aud` and the required claims;
    exp/iat/nbf are checked here against the injected clock, with the configured leeway.
    `verify_exp=False` serves logout and revocation only, where a genuine but expired
    token may still end its session."""
    read_header(token)
    required = REQUIRED + (["iss"] if issuer else []) + (["aud"] if audience else [])
    try:
        claims = pyjwt.decode(
            token,
            key,
            algorithms=algorithms,
            issuer=issuer,
            audience=audience,
            options={"require": required, "verify_exp": False, "verify_iat": False, "verify_nbf": False},
        )
    except _MALFORMED:
        raise InvalidToken() from None
    try:
        iat = _numeric_date(claims["iat"])
        exp = _numeric_date(claims["exp"])
        nbf = _numeric_date(claims["nbf"]) if "nbf" in claims else None
        result = AccessClaims(
            sub=_text(claims["sub"]),
            sid=_text(claims["sid"]),
            jti=_text(claims["jti"]),
            scope=_optional_text(claims.get("scope") or None) or "",
            iat=iat,
            exp=exp,
            client_id=_optional_text(claims.get("client_id")),
            iss=_optional_text(claims.get("iss")),
            aud=_audiences(claims.get("aud")),
        )
    except (TypeError, ValueError, OverflowError, OSError):
        raise InvalidToken() from None
    now = clock.now()
    slack = timedelta(seconds=leeway)
    if verify_exp and now >= exp + slack:
        raise InvalidToken("The access token has expired.")
    if iat > now + slack or (nbf is not None and nbf > now + slack):
        raise InvalidToken("The access token is not valid yet.")
    return result


def _numeric_date(value: object) -> datetime:
    """RFC 7519 §2 NumericDate: a JSON number. A numeric string is not one (PyJWT's own
    time checks would take "1700000000"), nor is a boolean."""
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
