"""Everything a request needs, built once per app by create_app."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import Clock
from app.oauth.grants import Grants
from app.oauth.issuer import TokenIssuer
from app.settings import Settings


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    issuer: TokenIssuer
    grants: Grants
