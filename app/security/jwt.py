"""Access tokens as signed JWTs (RFC 7519) in the RFC 9068 profile: typed `at+jwt`,
with `iss`, `sub`, `aud`, `exp`, `iat`, `jti`, `client_id`, `scope` and our session `sid`.

Verification follows RFC 8725: the header is read first only to pick a key (`kid`,
checked to be a plain identifier) and to check the type; the signature is then checked
with the algorithm of that key, never one the token chooses.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt as pyjwt

from app.clock import Clock
from app.errors import InsufficientScope, InvalidToken

ACCESS_TYP = "at+jwt"
MAX_TOKEN_LENGTH = 4096  # larger than any token we mint; a bigger one is garbage, not work
REQUIRED = ["sub", "sid", "exp", "iat", "jti"]
KID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


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
    a URL or a query in it never reaches a key lookup (RFC 8725 §3.10)."""
    if not token or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise InvalidToken()
    try:
        header = _json_object(token[: token.index(".")])
    except (ValueError, UnicodeError):
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
    digest = _HMAC_DIGESTS.get(algorithm)
    if digest is not None and isinstance(key, (str, bytes)):
        return _sign_hmac({"alg": algorithm, **headers}, payload, key, digest)
    return pyjwt.encode(payload, key, algorithm=algorithm, headers=headers)


_HMAC_DIGESTS = {"HS256": hashlib.sha256, "HS384": hashlib.sha384, "HS512": hashlib.sha512}


def _sign_hmac(header: dict[str, Any], payload: dict[str, Any], key: str | bytes, digest: Any) -> str:
    """RFC 7515 compact serialisation with an HMAC, which is all PyJWT does for HS*
    after ~40 µs of generic plumbing per token (a refresh mints one). PyJWT reads them as
    its own (tests/unit/test_security.py); they are verified by `_verify_hmac`."""
    signing_input = f"{_b64(_compact_json(header))}.{_b64(_compact_json(payload))}"
    secret = key.encode() if isinstance(key, str) else key
    signature = hmac.new(secret, signing_input.encode("ascii"), digest).digest()
    return f"{signing_input}.{_b64(signature)}"


def _compact_json(value: dict[str, Any]) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True).encode("ascii")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


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
    """PyJWT checks exp/iat against the wall clock, which tests cannot move. So PyJWT
    verifies the signature, the pinned algorithms, `iss`, `aud` and the required claims;
    exp/iat are checked here against the injected clock, with the configured leeway.
    `verify_exp=False` serves logout and revocation only, where a genuine but expired
    token may still end its session."""
    read_header(token)
    required = REQUIRED + (["iss"] if issuer else []) + (["aud"] if audience else [])
    digest = _HMAC_DIGESTS.get(algorithms[0]) if len(algorithms) == 1 else None
    try:
        if digest is not None and isinstance(key, (str, bytes)):
            claims = _verify_hmac(token, key, algorithms[0], digest, required, issuer, audience)
        else:
            claims = pyjwt.decode(
                token,
                key,
                algorithms=algorithms,
                issuer=issuer,
                audience=audience,
                options={
                    "require": required,
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
    if iat > now + slack:
        raise InvalidToken("The access token is not valid yet.")
    return result


def _verify_hmac(
    token: str, key: str | bytes, algorithm: str, digest: Any, required: list[str],
    issuer: str | None, audience: str | None,
) -> dict[str, Any]:
    """PyJWT's checks for one pinned HS* algorithm, without its generic plumbing (~200 µs
    per token here, against ~15 µs: every access token is verified once per process,
    so this is the first use of each new token). Any failure raises ValueError. It
    accepts nothing PyJWT refuses, and refuses beyond PyJWT only what we never mint
    (extension headers, base64 padding): tests/unit/test_jwt_hmac.py runs both over
    valid, forged and malformed tokens.

    - three segments of strict base64url (RFC 7515 §2: no padding, no other character);
    - the header a JSON object naming exactly the pinned algorithm, with no `crit` or
      `b64` (no extension is understood, RFC 7515 §4.1.11; we never mint either);
    - the signature compared in constant time before the payload is read;
    - the payload a JSON object with every required claim not null, `iss` equal to the
      issuer when one is configured, and `aud` naming the audience when one is
      configured — and absent when none is, as PyJWT has it."""
    signing_input, _, signature = token.rpartition(".")
    header_segment, _, payload_segment = signing_input.partition(".")
    header = _json_object(header_segment)
    if header.get("alg") != algorithm or "crit" in header or "b64" in header:
        raise ValueError("algorithm or an extension")
    secret = key.encode() if isinstance(key, str) else key
    expected = hmac.new(secret, signing_input.encode("ascii"), digest).digest()
    if not hmac.compare_digest(expected, _b64decode(signature)):
        raise ValueError("signature")
    claims = _json_object(payload_segment)
    if any(claims.get(name) is None for name in required):
        raise ValueError("a required claim is missing")
    if issuer is not None and claims.get("iss") != issuer:
        raise ValueError("issuer")
    aud = claims.get("aud")
    if audience is None:
        if aud:
            raise ValueError("an audience nobody asked for")
    elif audience not in _audiences(aud):
        raise ValueError("audience")
    return claims


_B64URL = re.compile(r"^[A-Za-z0-9_-]*$")


def _b64decode(segment: str) -> bytes:
    if not _B64URL.match(segment):
        raise ValueError("not base64url")
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _json_object(segment: str) -> dict[str, Any]:
    value = json.loads(_b64decode(segment))
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


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
