"""Private signing keys at rest: AES-256-GCM under a key derived from
JWT_KEY_ENCRYPTION_KEY, so a copy of the database alone cannot sign tokens.

HKDF turns any long random string into a 256-bit key. The kid is the associated data:
a ciphertext copied to another row does not decrypt, and a wrong encryption key fails
loudly (KeyDecryptionError) instead of producing garbage.
"""

from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
NONCE_BYTES = 12


class KeyDecryptionError(Exception):
    """The stored key does not decrypt: JWT_KEY_ENCRYPTION_KEY differs from the one it was
    stored with, or the row was tampered with."""


class KeyCipher:
    def __init__(self, secret: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=None, info=b"authserver signing keys v1"
        ).derive(secret.encode("utf-8"))
        self._aead = AESGCM(derived)

    def encrypt(self, plaintext: bytes, kid: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext, kid.encode("ascii"))
        return f"{VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def decrypt(self, stored: str, kid: str) -> bytes:
        version, _, body = stored.partition(".")
        if version != VERSION:
            raise KeyDecryptionError(f"unknown key format {version!r}")
        try:
            raw = base64.urlsafe_b64decode(body)
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], kid.encode("ascii"))
        except (InvalidTag, binascii.Error, ValueError):
            raise KeyDecryptionError(
                f"signing key {kid} does not decrypt: JWT_KEY_ENCRYPTION_KEY is not the one it was stored with"
            ) from None
