"""Where signing keys come from, behind one KeyRing protocol:

- HS256/384/512: JWT_SECRET, or in development a secret generated once and stored in the
  database, shared by every worker (read lazily, so a server can start while the database
  is still coming up). Never published.
- EdDSA/ES256/RS256 from files: JWT_PRIVATE_KEY_FILE signs; JWT_PUBLIC_KEY_FILES keep
  verifying (and stay in the JWKS) until the operator removes them.
- EdDSA/ES256/RS256 in the database (app.oauth.stored_keys): generated on first use,
  rotated by `python -m app keys rotate`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import Clock
from app.oauth.stored_keys import KeyEncryptionKey, KeyPolicy, StoredKeyRing
from app.security.jwk import (
    HMAC_ALGORITHMS,
    SigningKey,
    VerificationKey,
    hmac_signing_key,
    load_pem_private_key,
    load_pem_public_key,
    public_jwk,
    signing_key,
)
from app.security.tokens import new_secret
from app.settings import Settings
from app.store.server_secrets import SqlSecretStore
from app.store.signing_keys import SqlKeyStore

DEV_SECRET_NAME = "jwt_hs_dev"


class KeyRing(Protocol):
    async def signing_key(self) -> SigningKey: ...

    async def verification_key(self, kid: str) -> VerificationKey | None:
        """The key a token's `kid` names, while it may still verify; None otherwise."""
        ...

    async def published(self) -> list[dict[str, str]]:
        """Public JWKs for /.well-known/jwks.json, newest first."""
        ...


class SecretKeyRing:
    """The secret signs; earlier secrets (JWT_PREVIOUS_SECRETS) only verify, each under
    its own kid, so JWT_SECRET can be replaced without ending anyone's session: tokens
    signed before the switch verify until they expire, then the old secret can go."""

    def __init__(
        self, configured: str | None, store: SqlSecretStore, clock: Clock, algorithm: str,
        previous: tuple[str, ...] = (),
    ) -> None:
        self._configured = configured
        self._store = store
        self._clock = clock
        self._algorithm = algorithm
        self._key: SigningKey | None = None
        self._lock = asyncio.Lock()
        self._previous = {k.kid: k.public for k in (hmac_signing_key(s, algorithm) for s in previous)}

    async def secret(self) -> str:
        if self._configured is None:
            async with self._lock:
                if self._configured is None:
                    self._configured = await self._store.get_or_create(
                        DEV_SECRET_NAME, new_secret(), self._clock.now()
                    )
        return self._configured

    async def signing_key(self) -> SigningKey:
        if self._key is None:
            self._key = hmac_signing_key(await self.secret(), self._algorithm)
        return self._key

    async def verification_key(self, kid: str) -> VerificationKey | None:
        key = await self.signing_key()
        return key.public if kid == key.kid else self._previous.get(kid)

    async def published(self) -> list[dict[str, str]]:
        return []


class FileKeyRing:
    def __init__(self, signer: SigningKey, previous: list[VerificationKey]) -> None:
        self._signer = signer
        self._keys = {k.kid: k for k in [signer.public, *previous]}
        self._jwks = [signer.jwk or {}] + [
            public_jwk(k.key, k.algorithm) for k in previous if k.kid != signer.kid
        ]

    @classmethod
    def from_files(cls, private_file: str, public_files: list[str], algorithm: str) -> FileKeyRing:
        private = load_pem_private_key(Path(private_file).read_bytes(), algorithm)
        previous = [load_pem_public_key(Path(f).read_bytes()) for f in public_files]
        return cls(signing_key(private, algorithm), previous)

    async def signing_key(self) -> SigningKey:
        return self._signer

    async def verification_key(self, kid: str) -> VerificationKey | None:
        return self._keys.get(kid)

    async def published(self) -> list[dict[str, str]]:
        return list(self._jwks)


def build_key_ring(settings: Settings, engine: AsyncEngine, clock: Clock, policy: KeyPolicy) -> KeyRing:
    if settings.jwt_algorithm in HMAC_ALGORITHMS:
        secret = settings.jwt_secret.get_secret_value() if settings.jwt_secret else None
        return SecretKeyRing(
            secret, SqlSecretStore(engine), clock, settings.jwt_algorithm, settings.previous_secrets
        )
    if settings.jwt_private_key_file:
        return FileKeyRing.from_files(
            settings.jwt_private_key_file, settings.public_key_files, settings.jwt_algorithm
        )
    return StoredKeyRing(SqlKeyStore(engine), key_encryption_key(settings, engine, clock), policy, clock)


def key_encryption_key(settings: Settings, engine: AsyncEngine, clock: Clock) -> KeyEncryptionKey:
    configured = settings.jwt_key_encryption_key
    return KeyEncryptionKey(
        configured.get_secret_value() if configured else None, SqlSecretStore(engine), clock
    )
