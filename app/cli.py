"""python -m app: migrate, users, sessions, audit, keys, clients, purge, serve. Calls the stores directly, never over HTTP."""

from __future__ import annotations

import argparse
import sys
from datetime import timedelta

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import SQLAlchemyError

from app import cli_accounts, cli_serve, cli_trust
from app.clock import SystemClock
from app.db.engine import run_with_engine
from app.errors import ServiceUnavailable
from app.db.migrate import schema_problem, upgrade
from app.oauth.housekeeping import purge
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

    cli_serve.add_parser(sub)
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
    if args.command not in ("migrate", "serve"):  # serve migrates first (CONTRACT §2)
        problem = schema_problem(settings)
        if problem:
            print(f"error: {problem}", file=sys.stderr)
            return 1
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
        return cli_serve.serve(settings, args)
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
