"""`python -m app keys …` and `python -m app clients …`: signing keys and the client
registry, straight against the database like the rest of the CLI.

Every command prints JSON on standard output (one object per line), so scripts can read
it; errors go to standard error as one line, with a non-zero exit status.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine

from app.cli_accounts import CLI_CONTEXT
from app.clock import SystemClock
from app.db.runner import Runner, run_with_database
from app.errors import Conflict, OAuthError, ServiceUnavailable
from app.oauth.accounts import NotFound
from app.oauth.audit import Auditor
from app.oauth.client_admin import ClientAdmin
from app.oauth.clients import SUPPORTED_GRANTS
from app.oauth.validation import known_scopes
from app.oauth.keys import key_encryption_key
from app.oauth.key_rotation import ACTIVATION_DELAY, rotate_keys
from app.oauth.stored_keys import KeyPolicy
from app.security.jwk import HMAC_ALGORITHMS
from app.security.key_cipher import KeyDecryptionError
from app.settings import Settings
from app.store.audit import SqlAuditStore
from app.store.clients import ClientRecord, SqlClientStore
from app.store.signing_keys import SqlKeyStore, StoredKey

T = TypeVar("T")
DEFAULT_CLIENT_SCOPE = "profile"


def add_parsers(sub: Any) -> None:
    keys = sub.add_parser("keys", help="signing keys (EdDSA/ES256/RS256 in the database)")
    key_actions = keys.add_subparsers(dest="action", required=True)
    rotate = key_actions.add_parser(
        "rotate", help="make a new signing key; the old one verifies until its tokens expire"
    )
    rotate.add_argument(
        "--activate-in", type=float, default=ACTIVATION_DELAY.total_seconds(), metavar="SECONDS",
        help="publish the new key now, sign with it after this many seconds, so verifiers "
        f"fetch it first (default: {ACTIVATION_DELAY.total_seconds():g}; 0 after a key leak)",
    )
    key_actions.add_parser("list", help="list signing keys and their state")

    clients = sub.add_parser("clients", help="the client registry")
    client_actions = clients.add_subparsers(dest="action", required=True)
    create = client_actions.add_parser("create", help="register a client; prints its id (and secret, once)")
    create.add_argument("name")
    create.add_argument("--confidential", action="store_true", help="give it a secret (shown only this once)")
    create.add_argument(
        "--grant-types", default=" ".join(SUPPORTED_GRANTS),
        help=f"space-separated grant types it may use (default: {' '.join(SUPPORTED_GRANTS)})",
    )
    create.add_argument(
        "--scope", default=DEFAULT_CLIENT_SCOPE,
        help=f"space-separated scopes its tokens may carry (default: {DEFAULT_CLIENT_SCOPE})",
    )
    client_actions.add_parser("list", help="list registered clients (never their secrets)")
    reset = client_actions.add_parser(
        "reset-secret", help="replace a confidential client's secret; the old one stops working at once"
    )
    reset.add_argument("client_id")
    remove = client_actions.add_parser("delete", help="delete a client and end every session issued to it")
    remove.add_argument("client_id")
    disable = client_actions.add_parser("disable", help="refuse a client and end every session issued to it")
    disable.add_argument("client_id")
    client_actions.add_parser("enable", help="accept a disabled client again").add_argument("client_id")


def run(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.command == "keys":
            return _keys(settings, args)
        return _clients(settings, args)
    except (ValueError, KeyDecryptionError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _keys(settings: Settings, args: argparse.Namespace) -> int:
    if settings.jwt_algorithm in HMAC_ALGORITHMS:
        raise ValueError(
            f"JWT_ALGORITHM={settings.jwt_algorithm} signs with JWT_SECRET; "
            "keys are managed here for EdDSA, ES256 and RS256"
        )
    if settings.jwt_private_key_file:
        raise ValueError(
            "keys come from JWT_PRIVATE_KEY_FILE: rotate by pointing it at a new key "
            "and listing the old one in JWT_PUBLIC_KEY_FILES"
        )
    clock = SystemClock()
    policy = KeyPolicy.for_lifetimes(
        settings.jwt_algorithm,
        timedelta(minutes=settings.access_token_validity_minutes),
        timedelta(seconds=settings.jwt_leeway_seconds),
    )
    if args.action == "rotate":
        if not 0 <= args.activate_in <= 86400:
            raise ValueError("--activate-in takes 0 to 86400 seconds")
        delay = timedelta(seconds=args.activate_in)
        rotation = _run(
            settings,
            lambda e, r: rotate_keys(SqlKeyStore(e), key_encryption_key(settings, e, clock), policy, clock, delay),
        )
        print(json.dumps({
            "kid": rotation.new.kid, "algorithm": rotation.new.algorithm,
            "activates_at": rotation.new.activates_at.isoformat(),
            "verifying": [_describe(k, policy) for k in rotation.verifying], "retired": rotation.retired,
        }))
        return 0
    for key in _run(settings, lambda e, r: SqlKeyStore(e).all()):
        print(json.dumps(_describe(key, policy)))
    return 0


def _describe(key: StoredKey, policy: KeyPolicy) -> dict[str, object]:
    retires = policy.retires_at(key)
    now = SystemClock().now()
    if key.activates_at > now:
        state = "published"  # in the JWKS, not signing yet
    elif retires is not None and retires <= now:
        state = "retired"
    elif key.superseded_at is None or key.superseded_at > now:
        state = "signing"
    else:
        state = "verifying"
    return {
        "kid": key.kid, "algorithm": key.algorithm, "generation": key.generation, "state": state,
        "activates_at": key.activates_at.isoformat(), "retires_at": retires.isoformat() if retires else None,
    }


def _clients(settings: Settings, args: argparse.Namespace) -> int:
    if args.action == "list":
        for record in _run(settings, lambda e, r: SqlClientStore(e, r).all()):
            print(json.dumps({**_registration(record), "disabled": record.disabled_at is not None}))
        return 0
    try:
        return _change_client(settings, args)
    except NotFound:
        raise ValueError(f"no client {args.client_id!r}") from None
    except Conflict:
        raise ValueError(f"no confidential client {args.client_id!r} (a public client has no secret)") from None
    except OAuthError as exc:
        if isinstance(exc, ServiceUnavailable):
            raise
        raise ValueError(exc.description) from None


def _change_client(settings: Settings, args: argparse.Namespace) -> int:
    """Through the admin API's domain code (app.oauth.client_admin): the same rules, audited."""
    if args.action == "reset-secret":
        try:
            fresh = _run(settings, lambda e, r: _admin(e, r, settings).reset_secret(args.client_id, CLI_CONTEXT))
        except NotFound:
            raise Conflict() from None  # the message is the same: there is no secret to reset
        print(json.dumps({"client_id": args.client_id, "client_secret": fresh}))
    elif args.action in ("delete", "disable"):
        change = "deleted" if args.action == "delete" else "disabled"
        ended = _run(settings, lambda e, r: getattr(_admin(e, r, settings), args.action)(args.client_id, CLI_CONTEXT))
        print(json.dumps({"client_id": args.client_id, change: True, "sessions_ended": ended}))
    elif args.action == "enable":
        record = _run(settings, lambda e, r: _admin(e, r, settings).enable(args.client_id, CLI_CONTEXT))
        print(json.dumps(_registration(record)))
    else:
        record, secret = _run(settings, lambda e, r: _admin(e, r, settings).create(
            args.name, confidential=args.confidential, grant_types=args.grant_types.split(),
            scope=args.scope, ctx=CLI_CONTEXT,
        ))
        print(json.dumps(_registration(record, secret)))
    return 0


def _admin(engine: AsyncEngine, runner: Runner, settings: Settings) -> ClientAdmin:
    clock = SystemClock()
    return ClientAdmin(
        store=SqlClientStore(engine, runner), auditor=Auditor(SqlAuditStore(engine), clock), clock=clock,
        known_scopes=known_scopes(settings.scopes),
    )


def _registration(record: ClientRecord, secret: str | None = None) -> dict[str, object]:
    """RFC 7591 §3.2.1 names, so the output reads like a registration response."""
    body: dict[str, object] = {"client_id": record.client_id}
    if secret is not None:
        body["client_secret"] = secret
    body.update({
        "client_name": record.name,
        "token_endpoint_auth_method": "client_secret_basic" if record.confidential else "none",
        "grant_types": list(record.grant_types),
        "scope": " ".join(record.scope),
    })
    return body


def _run(settings: Settings, action: Callable[[AsyncEngine, Runner], Awaitable[T]]) -> T:
    return run_with_database(settings, action)
