"""Sealing a successor token pair under the refresh token it replaces.

For the refresh grace period the server must hand the same pair out again, yet store no
usable token. The pair is encrypted (AES-256-GCM) under a key derived (HKDF-SHA256) from
the *presented* refresh token, which the database never holds (it keeps only SHA-256 of
it). So only a client presenting that very token can open the pair, on any replica, and
a copy of the database yields nothing.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"authserver refresh grace pair v1"
_NONCE = 12


def _aead(token: str) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(token.encode("utf-8"))
    return AESGCM(key)


def seal(token: str, plaintext: bytes) -> str:
    nonce = os.urandom(_NONCE)
    return base64.urlsafe_b64encode(nonce + _aead(token).encrypt(nonce, plaintext, None)).decode("ascii")


def unseal(token: str, sealed: str) -> bytes | None:
    """None when it does not open (another token, or a tampered row)."""
    try:
        raw = base64.urlsafe_b64decode(sealed.encode("ascii"))
        return _aead(token).decrypt(raw[:_NONCE], raw[_NONCE:], None)
    except (InvalidTag, binascii.Error, ValueError):
        return None
