"""`python -m app users disable`, `sessions list`, `audit tail`: the admin's account
actions, on the same domain code as the HTTP routes (app.oauth.accounts)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import SystemClock
from app.db.runner import Runner, run_with_database
from app.oauth.accounts import Accounts, NotFound
from app.oauth.audit import Auditor, RequestContext
from app.security.passwords import CryptPasswordHasher
from app.settings import Settings
from app.store.audit import SqlAuditStore
from app.store.session_admin import SqlSessionAdmin
from app.store.users import SqlUserStore

T = TypeVar("T")
CLI_CONTEXT = RequestContext(user_agent="python -m app (cli)")


def add_parsers(sub: Any, users: Any) -> None:
    disable = users.add_parser("disable", help="disable a user and end all their sessions at once")
    disable.add_argument("username")
    sessions = sub.add_parser("sessions", help="a user's sessions").add_subparsers(dest="action", required=True)
    listing = sessions.add_parser("list", help="list a user's live sessions (JSON lines)")
    listing.add_argument("username")
    audit = sub.add_parser("audit", help="the security audit trail").add_subparsers(dest="action", required=True)
    tail = audit.add_parser("tail", help="the newest events, oldest first (JSON lines)")
    tail.add_argument("-n", "--lines", type=int, default=20)
    tail.add_argument("--event", default=None, help="only events of this kind, e.g. reuse_detected")


def handles(args: argparse.Namespace) -> bool:
    return args.command in ("sessions", "audit") or (args.command == "users" and args.action == "disable")


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.command == "users":
            ended = _with_accounts(settings, lambda a, _: a.disable_user(args.username, CLI_CONTEXT))
            print(f"disabled {args.username!r}; ended {ended} sessions")
        elif args.command == "sessions":
            views = _with_accounts(settings, lambda a, _: a.every_session(args.username))
            for view in views:
                print(json.dumps(asdict(view), default=str))
        else:
            records = _with_accounts(settings, lambda _, audit: audit.tail(max(1, args.lines), event=args.event))
            for record in reversed(records):
                print(json.dumps(asdict(record), default=str))
    except NotFound:
        print(f"error: no user {args.username!r}", file=sys.stderr)
        return 1
    return 0


def _with_accounts(settings: Settings, action: Callable[[Accounts, Auditor], Awaitable[T]]) -> T:
    def wire(engine: AsyncEngine, runner: Runner) -> Awaitable[T]:
        clock = SystemClock()
        auditor = Auditor(SqlAuditStore(engine), clock)
        accounts = Accounts(
            users=SqlUserStore(engine, runner), hasher=CryptPasswordHasher(), sessions=SqlSessionAdmin(engine),
            auditor=auditor, clock=clock,
        )
        return action(accounts, auditor)

    return run_with_database(settings, wire)
