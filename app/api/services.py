"""Everything a request needs, built once per app by create_app."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import FastAPI
from starlette.requests import HTTPConnection
from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import Clock
from app.oauth.clients import ClientAuthenticator
from app.oauth.grants import Grants
from app.oauth.introspection import TokenInspector
from app.oauth.issuer import TokenIssuer
from app.oauth.keys import KeyRing
from app.oauth.accounts import Accounts
from app.oauth.client_admin import ClientAdmin
from app.oauth.user_admin import UserAdmin
from app.oauth.audit import Auditor
from app.oauth.session_cache import CachingSessionStore
from app.oauth.usage import UsageRecorder
from app.security.passwords import CryptPasswordHasher
from app.settings import Settings
from app.db.runner import Runner
from app.store.session_admin import SqlSessionAdmin
from app.store.users import UserStore


@dataclass(frozen=True)
class Services:
    settings: Settings
    clock: Clock
    engine: AsyncEngine
    runner: Runner
    issuer: TokenIssuer
    grants: Grants
    keys: KeyRing
    clients: ClientAuthenticator
    inspector: TokenInspector
    users: UserStore
    accounts: Accounts
    user_admin: UserAdmin
    client_admin: ClientAdmin
    auditor: Auditor
    usage: UsageRecorder
    session_admin: SqlSessionAdmin
    session_cache: CachingSessionStore
    hasher: CryptPasswordHasher

    async def aclose(self) -> None:
        """What this app holds: background writes and reads still under way (finished
        first, so no database thread answers into a closed loop), database connections
        (the engine's and the runner's) and the password-hashing threads."""
        await self.usage.drain()
        await self.issuer.drain()
        await self.session_cache.drain()
        await self.runner.close()
        self.hasher.close()
        await self.engine.dispose()


class ServerApp(FastAPI):
    """The server's FastAPI app (create_app): its Services also as a plain attribute.
    `app.state.services` stays the documented way to reach them; the hot paths read
    `services` because Starlette's State answers only through `__getattr__`, after a
    failed attribute lookup, on every protected request."""

    services: Services | None = None  # create_app sets it, beside app.state.services


def services_of(request: HTTPConnection) -> Services:
    """The Services of the app serving `request`: the plain attribute on ours, else the
    documented `app.state.services` (an app wired otherwise)."""
    app = request.scope["app"]
    if isinstance(app, ServerApp) and app.services is not None:
        return app.services
    services: Services = app.state.services
    return services
