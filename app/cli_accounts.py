"""`python -m app users …`, `sessions …`, `audit tail`: the admin's account actions, on
the same domain code as the admin API (app.oauth.user_admin, app.oauth.accounts), so the
same rules hold and every change is audited, with `cli` as its actor.

An error is one `error: …` line on standard error and exit status 1; nothing is stored.
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from app.clock import SystemClock
from app.db.runner import Runner, run_with_database
from app.errors import OAuthError, ServiceUnavailable
from app.oauth.accounts import Accounts, NotFound
from app.oauth.audit import Auditor, RequestContext
from app.oauth.user_admin import UserAdmin
from app.oauth.validation import known_scopes
from app.security.passwords import CryptPasswordHasher
from app.settings import Settings
from app.store.audit import SqlAuditStore
from app.store.session_admin import SqlSessionAdmin
from app.store.users import SqlUserStore, UserRecord

T = TypeVar("T")
CLI_CONTEXT = RequestContext(user_agent="python -m app (cli)", actor="cli")
DEFAULT_SCOPE = "profile"


@dataclass(frozen=True)
class Admin:
    users: UserAdmin
    accounts: Accounts
    auditor: Auditor


def add_parsers(sub: Any) -> None:
    users = sub.add_parser("users", help="manage users").add_subparsers(dest="action", required=True)
    for action, text in (("create", "create a user"), ("set-password", "replace a user's password; ends all their sessions")):
        cmd = users.add_parser(action, help=text)
        cmd.add_argument("username")
        source = cmd.add_mutually_exclusive_group(required=True)
        source.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
        source.add_argument("--generate-password", action="store_true", help="generate one and print it")
        if action == "create":
            cmd.add_argument("--scope", default=DEFAULT_SCOPE, help=f"space-separated scopes (default: {DEFAULT_SCOPE})")
    users.add_parser("list", help="list users (JSON lines)")
    for action, text in (
        ("enable", "enable a disabled user (they log in again)"),
        ("disable", "disable a user and end all their sessions at once"),
        ("delete", "delete a user and end all their sessions at once"),
    ):
        users.add_parser(action, help=text).add_argument("username")
    scope = users.add_parser("set-scope", help="replace a user's scopes; taking one away ends their sessions")
    scope.add_argument("username")
    scope.add_argument("--scope", required=True, help='space-separated scopes ("" for none)')

    sessions = sub.add_parser("sessions", help="a user's sessions").add_subparsers(dest="action", required=True)
    listing = sessions.add_parser("list", help="list a user's live sessions (JSON lines)")
    listing.add_argument("username")
    end = sessions.add_parser("end", help="end one session of a user")
    end.add_argument("username")
    end.add_argument("session_id")
    sessions.add_parser("end-all", help="end every session of a user").add_argument("username")

    audit = sub.add_parser("audit", help="the security audit trail").add_subparsers(dest="action", required=True)
    tail = audit.add_parser("tail", help="the newest events, oldest first (JSON lines)")
    tail.add_argument("-n", "--lines", type=int, default=20)
    tail.add_argument("--event", default=None, help="only events of this kind, e.g. reuse_detected")


def handles(args: argparse.Namespace) -> bool:
    return args.command in ("users", "sessions", "audit")


def run(settings: Settings, args: argparse.Namespace) -> int:
    password: str | None = None
    try:
        if args.command == "users" and args.action in ("create", "set-password"):
            password = _read_password(args)
        for line in _act(settings, args, password):
            print(line)
    except NotFound:
        print(f"error: no {'session' if args.action == 'end' else 'user'} {_shown(args)}", file=sys.stderr)
        return 1
    except OAuthError as exc:
        if isinstance(exc, ServiceUnavailable):
            raise  # the command line's one line for a database it cannot use
        print(f"error: {exc.description}", file=sys.stderr)
        return 1
    except PasswordInputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.command == "users" and getattr(args, "generate_password", False):
        print(f"password: {password}")
    return 0


def _shown(args: argparse.Namespace) -> str:
    return f"{args.session_id!r} of {args.username!r}" if args.action == "end" else repr(args.username)


def _act(settings: Settings, args: argparse.Namespace, password: str | None) -> list[str]:
    name = getattr(args, "username", "")
    if args.command == "audit":
        records = _with_admin(settings, lambda a: a.auditor.tail(max(1, args.lines), event=args.event))
        return [json.dumps(asdict(r), default=str) for r in reversed(records)]
    if args.command == "sessions":
        return _sessions(settings, args)
    if args.action == "list":
        return [json.dumps(_user_line(u)) for u in _with_admin(settings, _every_user)]
    if args.action == "create":
        user = _with_admin(settings, lambda a: a.users.create(name, password or "", args.scope, CLI_CONTEXT))
        return [f"created user {user.username!r}"]
    if args.action == "set-password":
        ended = _with_admin(settings, lambda a: a.users.set_password(name, password or "", CLI_CONTEXT))
        return [f"password of {name!r} replaced; ended {ended} sessions"]
    if args.action == "set-scope":
        user, ended = _with_admin(settings, lambda a: a.users.set_scope(name, args.scope, CLI_CONTEXT))
        return [f"scope of {name!r} is now {user.scope!r}; ended {ended} sessions"]
    if args.action == "enable":
        _with_admin(settings, lambda a: a.users.enable(name, CLI_CONTEXT))
        return [f"enabled {name!r}"]
    if args.action == "delete":
        ended = _with_admin(settings, lambda a: a.users.delete(name, CLI_CONTEXT))
        return [f"deleted {name!r}; ended {ended} sessions"]
    ended = _with_admin(settings, lambda a: a.users.disable(name, CLI_CONTEXT))
    return [f"disabled {name!r}; ended {ended} sessions"]


def _sessions(settings: Settings, args: argparse.Namespace) -> list[str]:
    if args.action == "list":
        views = _with_admin(settings, lambda a: a.accounts.every_session(args.username))
        return [json.dumps(asdict(view), default=str) for view in views]
    if args.action == "end":
        async def end(a: Admin) -> None:
            user = await a.accounts.user(args.username)
            await a.accounts.end_session(user.id, args.session_id, CLI_CONTEXT, by_admin=True)

        _with_admin(settings, end)
        return [f"ended session {args.session_id} of {args.username!r}"]

    async def end_all(a: Admin) -> int:
        return await a.accounts.end_all_sessions((await a.accounts.user(args.username)).id, CLI_CONTEXT)

    return [f"ended {_with_admin(settings, end_all)} sessions of {args.username!r}"]


async def _every_user(admin: Admin) -> list[UserRecord]:
    page = await admin.users.page(1000)
    users = list(page.users)
    while page.next_cursor is not None:
        page = await admin.users.page(1000, page.next_cursor)
        users += page.users
    return users


def _user_line(user: UserRecord) -> dict[str, object]:
    return {
        "id": user.id, "username": user.username, "scope": user.scope, "is_active": user.is_active,
        "created_at": user.created_at.isoformat() if user.created_at else None,
    }


def _read_password(args: argparse.Namespace) -> str:
    """Generated, or standard input as UTF-8 with one trailing newline stripped (as `echo`
    adds it). What the password must be is the domain's rule (app.oauth.validation)."""
    if args.generate_password:
        return secrets.token_urlsafe(15)
    try:
        password = sys.stdin.buffer.read().decode("utf-8")
    except UnicodeDecodeError:
        raise PasswordInputError("the password on standard input is not UTF-8 text") from None
    if password.endswith("\n"):  # exactly one
        password = password[:-1]
        if password.endswith("\r"):
            password = password[:-1]
    if not password:
        raise PasswordInputError("the password on standard input is empty")
    return password


class PasswordInputError(Exception):
    """Standard input held no usable password; shown as the error line."""


def _with_admin(settings: Settings, action: Callable[[Admin], Awaitable[T]]) -> T:
    def wire(engine: AsyncEngine, runner: Runner) -> Awaitable[T]:
        clock = SystemClock()
        auditor = Auditor(SqlAuditStore(engine), clock)
        users, hasher, sessions = SqlUserStore(engine, runner), CryptPasswordHasher(), SqlSessionAdmin(engine)
        return action(Admin(
            users=UserAdmin(users=users, sessions=sessions, hasher=hasher, auditor=auditor, clock=clock,
                            known_scopes=known_scopes(settings.scopes)),
            accounts=Accounts(users=users, hasher=hasher, sessions=sessions, auditor=auditor, clock=clock),
            auditor=auditor,
        ))

    return run_with_database(settings, wire)
