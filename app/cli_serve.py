"""`python -m app serve`: migrate, then serve with uvicorn, on the issuer that is served.

JWT_ISSUER is this server's public URL: the `iss` of every token and the base of every
URL in the discovery document (RFC 8414 §2). Unset, it follows the address served
(`--host`, `--port`), so a server on another port never advertises endpoints where
nothing answers. A wildcard host names no address a client could use, and behind a
proxy only the operator knows the public URL: those are warned about, once, at start.
"""

from __future__ import annotations

import argparse
import ipaddress
import logging
import os
import signal
import tempfile
from types import FrameType
from typing import Any

from app.clock import SystemClock
from app.db.engine import run_with_engine
from app.db.migrate import upgrade
from app.http_guard import GuardedHTTP
from app.logs import configure_logging, uvicorn_log_config
from app.oauth.keys import key_encryption_key
from app.oauth.stored_keys import KEK_MISMATCH, check_stored_keys
from app.security.jwk import HMAC_ALGORITHMS
from app.security.key_cipher import KeyDecryptionError
from app.settings import Settings
from app.store.signing_keys import SqlKeyStore

WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::", "[::]"})
log = logging.getLogger("app.startup")


def add_parser(sub: Any) -> None:
    serve = sub.add_parser("serve", help="migrate, then serve with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1)


def served_issuer(host: str, port: int) -> str:
    """The URL of the address served: `http://H:P`, an IPv6 literal in brackets
    (RFC 3986 §3.2.2), and the loopback address for a wildcard host, which is the one
    address of all interfaces a local client can be sure to reach."""
    if host in WILDCARD_HOSTS:
        host = "[::1]" if ":" in host else "127.0.0.1"
    try:
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    except ValueError:
        pass  # a name, or a bracketed literal already
    return f"http://{host}:{port}"


def issuer_warning(settings: Settings, host: str, issuer: str) -> str | None:
    """The one line `serve` logs about an issuer it derived, or None when it is fine."""
    if host in WILDCARD_HOSTS:
        line = (f"JWT_ISSUER is not set and the server listens on all interfaces ({host or '*'}): "
                f"tokens and the discovery document name {issuer}, which other machines cannot reach; "
                "set JWT_ISSUER to the URL clients reach this server at")
    elif settings.app_env == "production":
        line = (f"JWT_ISSUER is not set: tokens and the discovery document name {issuer}, the address "
                "served; set JWT_ISSUER to this server's public URL (https:// behind a TLS proxy)")
    else:
        return None
    return f"production: {line}" if settings.app_env == "production" else line


def serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    upgrade(settings.database_url)
    _refuse_unreadable_keys(settings)
    if "jwt_issuer" not in settings.model_fields_set:
        # the workers build their Settings from the environment: they inherit it there
        issuer = os.environ["JWT_ISSUER"] = served_issuer(args.host, args.port)
        warning = issuer_warning(settings, args.host, issuer)
        if warning:
            configure_logging(settings.log_level)
            log.warning(warning)
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
            http=GuardedHTTP,  # bounds on head size, slow clients, connections (app.http_guard)
            ws="none",
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
