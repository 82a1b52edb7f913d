"""Opaque refresh tokens and session ids.

A refresh token is 256 random bits with a fixed prefix, so the two token kinds can never
be confused (an access JWT has no such prefix, a refresh token has no JWT structure). Only
SHA-256 of it is stored: for a uniformly random secret a fast hash loses nothing, and a
copy of the database yields no usable token.
"""

from __future__ import annotations

import hashlib
import re
import secrets

REFRESH_PREFIX = "rt_"
_REFRESH_RE = re.compile(r"^rt_[A-Za-z0-9_-]{43}$")
_SESSION_ID_RE = re.compile(r"[0-9a-f]{32}")


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def is_refresh_token(token: str) -> bool:
    return bool(_REFRESH_RE.match(token))


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_session_id() -> str:
    """An opaque 128-bit id, 32 hex characters."""
    return secrets.token_hex(16)


def is_session_id(value: str) -> bool:
    """The shape new_session_id makes. Anything else names no session, and is refused
    before a query: PostgreSQL's text cannot even hold a NUL."""
    return _SESSION_ID_RE.fullmatch(value) is not None


def new_jti() -> str:
    return secrets.token_urlsafe(16)


def new_secret() -> str:
    return secrets.token_urlsafe(48)
