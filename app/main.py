"""create_app: all the wiring, nothing at import time.

`uvicorn --factory app.main:create_app` builds Settings() from the environment when it
calls this; tests pass their own settings and a FrozenClock.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from datetime import timedelta

from fastapi import FastAPI

from app import __version__
from app.api.docs import install_docs
from app.api.errors import install_error_handlers
from app.api.openapi import install_openapi_additions
from app.api.telemetry import fastapi_telemetry
from app.api.startup import check_signing_keys, one_line_startup_errors
from app.api.routes import accounts, admin, discovery, health, introspection, session, tokens
from app.api.services import ServerApp, Services
from app.clock import Clock, SystemClock
from app.db.engine import make_engine
from app.logs import configure_logging, flush_logs
from app.oauth.housekeeping import purge_forever
from app.oauth.grants import Grants, PasswordGrant, RefreshTokenGrant
from app.oauth.issuer import Lifetimes, TokenIssuer
from app.oauth.clients import ClientAuthenticator
from app.oauth.introspection import TokenInspector
from app.oauth.keys import build_key_ring
from app.oauth.stored_keys import KeyPolicy
from app.oauth.ratelimit import AttemptStore, LoginLimits, LoginRateLimiter
from app.security.passwords import CryptPasswordHasher
from app.settings import Settings, load_settings, production_warnings
from app.store.attempts import SqlAttemptStore
from app.store.attempts_redis import RedisAttemptStore
from app.store.purge import SqlPurger
from app.store.clients import SqlClientStore
from app.db.runner import Runner, make_runner
from app.store.sessions import SqlSessionStore
from app.store.users import SqlUserStore
from app.api.observability import RequestLog
from app.oauth.accounts import Accounts
from app.oauth.client_admin import ClientAdmin
from app.oauth.user_admin import UserAdmin
from app.oauth.validation import known_scopes
from app.oauth.session_cache import CachingSessionStore
from app.oauth.audit import Auditor
from app.oauth.usage import UsageRecorder
from app.store.audit import SqlAuditStore
from app.oauth.refresh_rule import ReusePolicy
from app.store.session_admin import SqlSessionAdmin

DESCRIPTION = """OAuth 2.0 token server: password and refresh_token grants with rotating,
revocable refresh tokens; JWT access tokens checked against a live session.

Use **Authorize** with a username and password (OAuth2 password flow) to try the
protected routes."""


def _attempt_store(settings: Settings, runner: Runner) -> AttemptStore:
    """Login counters live in the database unless REDIS_URL names a Redis."""
    if settings.redis_url is None:
        return SqlAttemptStore(runner)
    return RedisAttemptStore(
        settings.redis_url.get_secret_value(), window_seconds=settings.login_attempts_window_seconds,
        remember_seconds=math.ceil(settings.login_known_client_days * 86400),
        timeout=settings.db_connect_timeout_seconds,
    )


def build_services(settings: Settings, clock: Clock) -> Services:
    engine = make_engine(settings)
    lifetimes = Lifetimes(
        access=timedelta(minutes=settings.access_token_validity_minutes),
        refresh=timedelta(minutes=settings.refresh_token_validity_minutes),
        session_max=timedelta(minutes=settings.session_max_lifetime_minutes),
        leeway=timedelta(seconds=settings.jwt_leeway_seconds),
    )
    keys = build_key_ring(
        settings, engine, clock, KeyPolicy.for_lifetimes(settings.jwt_algorithm, lifetimes.access, lifetimes.leeway)
    )
    runner = make_runner(settings, engine)
    store = SqlSessionStore(runner)
    session_cache = CachingSessionStore(
        store, clock, settings.session_check_interval_seconds,
        overlap=timedelta(seconds=settings.db_command_timeout_seconds),  # a revocation commits within it or fails
    )
    auditor = Auditor(SqlAuditStore(engine), clock)
    users = SqlUserStore(engine, runner)
    hasher = CryptPasswordHasher(concurrency=settings.password_hash_concurrency, queue=settings.password_hash_queue)
    session_admin = SqlSessionAdmin(engine)
    issuer = TokenIssuer(
        tokens=store, sessions=store, live=session_cache, keys=keys, clock=clock, lifetimes=lifetimes,
        issuer=settings.jwt_issuer, audience=settings.jwt_audience, auditor=auditor,
        max_sessions=settings.max_sessions_per_user,
        reuse=ReusePolicy(
            grace=timedelta(seconds=settings.refresh_reuse_grace_seconds),
            enforce=settings.refresh_reuse_detection == "enforce",
        ),
    )
    limiter = LoginRateLimiter(
        LoginLimits(
            enabled=settings.rate_limit_enabled,
            failures_before_backoff=settings.login_failures_before_backoff,
            backoff_max=timedelta(seconds=settings.login_backoff_max_seconds),
            per_ip=settings.login_attempts_per_ip,
            window=timedelta(seconds=settings.login_attempts_window_seconds),
            known_for=timedelta(days=settings.login_known_client_days),
        ),
        _attempt_store(settings, runner),
        clock,
    )
    grants = Grants(
        {
            "password": PasswordGrant(
                users=users, hasher=hasher, issuer=issuer, limiter=limiter, auditor=auditor,
            ),
            "refresh_token": RefreshTokenGrant(issuer=issuer),
        }
    )
    client_store = SqlClientStore(engine, runner)
    scopes = known_scopes(settings.scopes)
    return Services(
        settings=settings, clock=clock, engine=engine, runner=runner, issuer=issuer, grants=grants, keys=keys,
        clients=ClientAuthenticator(client_store, allow_unregistered=settings.allow_unregistered_public_clients),
        inspector=TokenInspector(
            issuer=issuer, tokens=store, sessions=store, clock=clock, auditor=auditor,
        ),
        users=users, auditor=auditor, session_admin=session_admin,
        accounts=Accounts(
            users=users, hasher=hasher, sessions=session_admin, auditor=auditor, clock=clock, cache=session_cache,
            limiter=limiter,
        ),
        user_admin=UserAdmin(
            users=users, sessions=session_admin, hasher=hasher, auditor=auditor, clock=clock, known_scopes=scopes,
            cache=session_cache,
        ),
        client_admin=ClientAdmin(store=client_store, auditor=auditor, clock=clock, known_scopes=scopes),
        usage=UsageRecorder(session_admin, clock),
        session_cache=session_cache,
        hasher=hasher,
    )


def _start_purging(settings: Settings, services: Services) -> asyncio.Task[None] | None:
    if not settings.purge_interval_seconds:
        return None
    return asyncio.create_task(
        purge_forever(
            SqlPurger(services.engine), services.clock,
            interval=settings.purge_interval_seconds,
            retention=timedelta(minutes=settings.purge_retention_minutes),
            attempt_window=timedelta(seconds=settings.login_attempts_window_seconds),
            known_for=timedelta(days=settings.login_known_client_days),
        )
    )


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> FastAPI:
    settings = settings if settings is not None else load_settings()
    configure_logging(settings.log_level)
    for warning in production_warnings(settings):
        logging.getLogger("app.startup").warning(warning)
    services = build_services(settings, clock or SystemClock())

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await check_signing_keys(services.keys)
        purging = _start_purging(settings, services)
        feed = asyncio.create_task(services.session_cache.follow_revocations())
        yield
        for task in (feed, purging):
            if task is not None:
                task.cancel()
                with suppress(asyncio.CancelledError):
                    await task  # its query ends before the connections close
        await services.aclose()
        flush_logs()

    app = ServerApp(
        title="authserver",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # install_docs serves them without a CDN
        redoc_url=None,
        **fastapi_telemetry(settings.telemetry),
    )
    app.state.services = app.services = services
    install_error_handlers(app)
    for router in (
        session.router, session.hot, tokens.router, accounts.router, admin.router, health.router, introspection.router,
        discovery.router,
    ):
        app.include_router(router)
    install_openapi_additions(app, settings.scopes)
    install_docs(app)
    app.add_middleware(RequestLog)
    one_line_startup_errors(app.router)
    return app
