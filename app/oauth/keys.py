"""Where the signing secret comes from: JWT_SECRET, or in development a secret generated
once and stored in the database, shared by every worker (read lazily, so a server can
start while the database is still coming up)."""

from __future__ import annotations

import asyncio

from app.clock import Clock
from app.security.tokens import new_secret
from app.store.server_secrets import SqlSecretStore

DEV_SECRET_NAME = "jwt_hs_dev"


class SigningKeys:
    def __init__(self, configured: str | None, store: SqlSecretStore, clock: Clock) -> None:
        self._secret = configured
        self._store = store
        self._clock = clock
        self._lock = asyncio.Lock()

    async def secret(self) -> str:
        if self._secret is None:
            async with self._lock:
                if self._secret is None:
                    self._secret = await self._store.get_or_create(
                        DEV_SECRET_NAME, new_secret(), self._clock.now()
                    )
        return self._secret
