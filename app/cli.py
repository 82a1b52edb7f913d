"""python -m app: migrate, users, sessions, audit, keys, clients, purge, serve. Calls the stores directly, never over HTTP."""

from __future__ import annotations

import argparse
import os
import signal
import tempfile
import sys
from datetime import timedelta
from types import FrameType

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import SQLAlchemyError

from app import cli_accounts, cli_trust
from app.clock import SystemClock
from app.db.engine import run_with_engine
from app.errors import ServiceUnavailable
from app.db.migrate import upgrade
from app.logs import uvicorn_log_config
from app.oauth.housekeeping import purge
from app.oauth.keys import key_encryption_key
from app.oauth.stored_keys import KEK_MISMATCH, check_stored_keys
from app.security.jwk import HMAC_ALGORITHMS
from app.security.key_cipher import KeyDecryptionError
from app.store.signing_keys import SqlKeyStore
from app.store.purge import SqlPurger
from app.settings import Settings, load_settings


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="authserver command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring the database to the newest schema")

    cli_accounts.add_parsers(sub)
    cli_trust.add_parsers(sub)

    purge = sub.add_parser("purge", help="delete ended sessions and expired login counters")
    purge.add_argument("--batch-size", type=int, default=1000)

    serve = sub.add_parser("serve", help="migrate, then serve with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    settings = load_settings()
    try:
        return _dispatch(settings, args)
    except ServiceUnavailable:
        print("error: the database cannot be used (unreachable, or it did not answer in time)", file=sys.stderr)
        return 1
    except (OSError, SQLAlchemyError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # One line, not a traceback; never the statement or its parameters (a hash, say).
        orig = getattr(exc, "orig", None) or exc
        detail = (str(orig).strip().splitlines() or [""])[0][:200]
        print(f"error: the database cannot be used ({type(orig).__name__}: {detail})", file=sys.stderr)
        return 1


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    if args.command == "migrate":
        upgrade(settings.database_url)
        print("database is at the newest schema")
        return 0
    if cli_accounts.handles(args):
        return cli_accounts.run(settings, args)
    if args.command in ("keys", "clients"):
        return cli_trust.run(settings, args)
    if args.command == "purge":
        return _purge(settings, args.batch_size)
    if args.command == "serve":
        return _serve(settings, args)
    return 2


def _purge(settings: Settings, batch_size: int) -> int:
    result = run_with_engine(settings, lambda engine: purge(
        SqlPurger(engine), SystemClock(), batch_size=max(1, batch_size),
        retention=timedelta(minutes=settings.purge_retention_minutes),
        attempt_window=timedelta(seconds=settings.login_attempts_window_seconds),
        known_for=timedelta(days=settings.login_known_client_days),
    ))
    print(f"purged {result.sessions} ended sessions and {result.attempts} login-attempt counters")
    return 0


def _serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    upgrade(settings.database_url)
    _refuse_unreadable_keys(settings)
    if args.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # every worker writes its metrics here and /metrics aggregates them
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="authserver-metrics-")
    # uvicorn drains on SIGTERM, then raises the signal again into the handler it found,
    # which by default kills the process (status 143) after a clean shutdown. Ours turns
    # that into exit status 0. (Workers and the --workers supervisor have their own.)
    previous = signal.signal(signal.SIGTERM, _exit_cleanly)
    try:
        uvicorn.run(
            "app.main:create_app",
            factory=True,
            host=args.host,
            port=args.port,
            workers=args.workers,
            access_log=False,  # the server's own request line (app.access) has the route template instead
            log_config=uvicorn_log_config(),  # uvicorn's lines as JSON, as the server's
            proxy_headers=False,
        )
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def _refuse_unreadable_keys(settings: Settings) -> None:
    """A wrong JWT_KEY_ENCRYPTION_KEY is a bad setting: one line and a non-zero exit
    before any worker starts, like the settings errors of load_settings, and not a 500 on
    every token request. The check only reads, so nothing stored changes."""
    if settings.jwt_algorithm in HMAC_ALGORITHMS or settings.jwt_private_key_file:
        return
    clock = SystemClock()
    try:
        run_with_engine(settings, lambda e: check_stored_keys(
            SqlKeyStore(e), key_encryption_key(settings, e, clock), clock.now()
        ))
    except KeyDecryptionError:
        raise SystemExit(KEK_MISMATCH) from None


def _exit_cleanly(signum: int, frame: FrameType | None) -> None:
    raise SystemExit(0)
