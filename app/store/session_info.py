"""What a store says of a session it just started or rotated: its own module, so that the
SQLAlchemy store (app.store.sessions) and the driver path (app.store.rotation) share it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SessionInfo:
    id: str
    user_id: int
    username: str
    scope: str
    client_id: str | None
    expires_at: datetime
    refresh_expires_at: datetime
