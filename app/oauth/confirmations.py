"""Recording that a rotation was answered (app.oauth.refresh_rule): after the answer,
in the background, so a refresh waits for one transaction, not two. The rotations
answered while a write is under way are written together in the next one."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

log = logging.getLogger("app.sessions")
MAX_PENDING = 10_000  # beyond this (a database that cannot be written) the oldest are dropped


class ConfirmationStore(Protocol):
    async def confirm(self, token_hashes: Sequence[str], now: datetime) -> None: ...


class Confirmations:
    def __init__(self, store: ConfirmationStore) -> None:
        self._store = store
        self._pending: dict[str, datetime] = {}
        self._writing: dict[str, datetime] = {}
        self._writer: asyncio.Task[None] | None = None

    def add(self, token_hash: str, now: datetime) -> None:
        self._pending[token_hash] = now
        if len(self._pending) > MAX_PENDING:
            del self._pending[next(iter(self._pending))]
        if self._writer is None:
            self._writer = asyncio.create_task(self._write())

    async def _write(self) -> None:
        try:
            while self._pending:
                self._writing, self._pending = self._pending, {}
                try:
                    await self._store.confirm(list(self._writing), max(self._writing.values()))
                except Exception:  # noqa: BLE001 - an unconfirmed rotation is only retried as itself
                    log.warning("could not record %d answered rotations", len(self._writing))
        finally:
            self._writing = {}
            self._writer = None

    async def settled(self, token_hash: str) -> None:
        """A token this process has just rotated is read again only after its
        confirmation is written, so this process never mistakes its own answered
        rotation for an unanswered one."""
        if self._writer is not None and (token_hash in self._pending or token_hash in self._writing):
            await asyncio.shield(self._writer)

    async def drain(self) -> None:
        if self._writer is not None:
            await asyncio.shield(self._writer)
