"""python -m app: migrate, users, keys, clients, serve. Calls the stores directly, never over HTTP."""

from __future__ import annotations

import argparse
import secrets
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.exc import SQLAlchemyError

from app import cli_accounts, cli_serve, cli_trust
from app.clock import SystemClock
from app.db.engine import run_with_engine
from app.db.runner import run_with_database
from app.errors import ServiceUnavailable
from app.db.migrate import schema_problem, upgrade
from app.oauth.housekeeping import purge
from app.store.purge import SqlPurger
from app.security.passwords import CryptPasswordHasher
from app.settings import Settings, load_settings
from app.store.users import DuplicateUser, SqlUserStore

T = TypeVar("T")
DEFAULT_SCOPE = "profile"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m app", description="authserver command line")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate", help="bring the database to the newest schema")

    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action", required=True)
    for action, text in (("create", "create a user"), ("set-password", "replace a user's password")):
        cmd = users.add_parser(action, help=text)
        cmd.add_argument("username")
        source = cmd.add_mutually_exclusive_group(required=True)
        source.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        source.add_argument("--generate-password", action="store_true", help="generate one and print it")
        if action == "create":
            cmd.add_argument("--scope", default=DEFAULT_SCOPE, help=f"space-separated scopes (default: {DEFAULT_SCOPE})")

    cli_trust.add_parsers(sub)
    cli_accounts.add_parsers(sub, users)

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
    if args.command == "users":
        return _users(settings, args)
    if args.command in ("keys", "clients"):
        return cli_trust.run(settings, args)
    if args.command == "purge":
        return _purge(settings, args.batch_size)
    if args.command == "serve":
        return cli_serve.serve(settings, args)
    return 2


def _read_password(args: argparse.Namespace) -> str | None:
    if args.generate_password:
        return secrets.token_urlsafe(15)
    password = sys.stdin.read()
    if password.endswith("\n"):  # exactly one, as `echo` adds it
        password = password[:-1]
        if password.endswith("\r"):
            password = password[:-1]
    return password or None


def _users(settings: Settings, args: argparse.Namespace) -> int:
    password = _read_password(args)
    if password is None:
        print("error: the password on standard input is empty", file=sys.stderr)
        return 2
    hasher = CryptPasswordHasher()
    hashed = hasher.hash_sync(password)
    if args.action == "create":
        try:
            _run(settings, lambda store: store.create(args.username, hashed, args.scope, SystemClock().now()))
        except DuplicateUser:
            print(f"error: user {args.username!r} already exists", file=sys.stderr)
            return 1
        print(f"created user {args.username!r}")
    else:
        user = _run(settings, lambda store: store.get_by_username(args.username))
        if user is None:
            print(f"error: no user {args.username!r}", file=sys.stderr)
            return 1
        _run(settings, lambda store: store.set_password_hash(user.id, hashed))
        print(f"password of {args.username!r} replaced")
    if args.generate_password:
        print(f"password: {password}")
    return 0


def _run(settings: Settings, action: Callable[[SqlUserStore], Awaitable[T]]) -> T:
    return run_with_database(settings, lambda engine, runner: action(SqlUserStore(engine, runner)))


def _purge(settings: Settings, batch_size: int) -> int:
    result = run_with_engine(settings, lambda engine: purge(
        SqlPurger(engine), SystemClock(), batch_size=max(1, batch_size),
        retention=timedelta(minutes=settings.purge_retention_minutes),
        attempt_window=timedelta(seconds=settings.login_attempts_window_seconds),
        known_for=timedelta(days=settings.login_known_client_days),
    ))
    print(f"purged {result.sessions} ended sessions and {result.attempts} login-attempt counters")
    return 0
