"""`authclient` / `python -m authclient`: the session for shell users and curl.

    authclient login alice --server https://auth.example.com    # prompts for the password
    curl -H "Authorization: Bearer $(authclient token)" https://api.example.com/orders
    authclient whoami
    authclient logout

The session lives in `$XDG_CONFIG_HOME/authclient/session.json` (else
`~/.config/authclient/session.json`), or `--session-file` / `$AUTHCLIENT_SESSION_FILE`; it is
shared, under its lock, with every program that uses the same file. A registered OAuth
client is named by `--client-id` / `$AUTHCLIENT_CLIENT_ID` and, when confidential,
`--client-secret` / `$AUTHCLIENT_CLIENT_SECRET`. Only `token` ever prints
a token, and only because that is what it is for.

Exit codes: 0 done, 1 refused or not logged in, 2 bad usage, 3 server unavailable.
"""

from __future__ import annotations

import argparse
import getpass
import logging
import os
import sys
import warnings
from pathlib import Path

from authclient.errors import AuthError, NotLoggedIn, ServerUnavailable
from authclient.storage import SessionFile
from authclient.sync import AuthClient

EXIT_REFUSED, EXIT_USAGE, EXIT_UNAVAILABLE = 1, 2, 3


def default_session_file() -> Path:
    if explicit := os.environ.get("AUTHCLIENT_SESSION_FILE"):
        return Path(explicit).expanduser()
    config = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(config) / "authclient" / "session.json"


def _parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--server", default=os.environ.get("AUTHCLIENT_SERVER"),
                        help="auth server base URL (env AUTHCLIENT_SERVER; default: the stored session's)")
    common.add_argument("--session-file", type=Path, default=None,
                        help="session file (env AUTHCLIENT_SESSION_FILE; "
                             "default: $XDG_CONFIG_HOME/authclient/session.json)")
    common.add_argument("--client-id", default=os.environ.get("AUTHCLIENT_CLIENT_ID") or None,
                        help="the registered OAuth client to name (env AUTHCLIENT_CLIENT_ID; default: "
                             "none at login, the session's own client at refresh)")
    common.add_argument("--client-secret", default=os.environ.get("AUTHCLIENT_CLIENT_SECRET") or None,
                        help="a confidential client's secret, sent as HTTP Basic (prefer env "
                             "AUTHCLIENT_CLIENT_SECRET: other users can read a command line)")
    common.add_argument("-v", "--verbose", action="store_true", help="log what the client does")
    parser = argparse.ArgumentParser(prog="authclient", description="Log in to an authserver and use its tokens.")
    sub = parser.add_subparsers(dest="command", required=True)
    login = sub.add_parser("login", parents=[common], help="log in with username and password")
    login.add_argument("username", nargs="?", help="prompted for when omitted")
    login.add_argument("--password-stdin", action="store_true",
                       help="read the password from standard input (one trailing newline is stripped)")
    login.add_argument("--scope", help="space-separated scopes to ask for")
    sub.add_parser("token", parents=[common], help="print a valid access token (refreshed if due)")
    sub.add_parser("whoami", parents=[common], help="ask the server who the session belongs to")
    sub.add_parser("status", parents=[common], help="one line about the stored session (no network)")
    sub.add_parser("logout", parents=[common], help="end the session on the server and forget it")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    warnings.formatwarning = lambda message, *_a, **_k: f"authclient: warning: {message}\n"
    if args.verbose:
        logging.basicConfig(level=logging.DEBUG, format="authclient: %(message)s")
        for noisy in ("httpx", "httpcore"):  # their debug lines describe every request
            logging.getLogger(noisy).setLevel(logging.WARNING)
    path: Path = args.session_file or default_session_file()
    server = args.server or _stored_server(path)
    if server is None:
        return _fail("no server: pass --server URL or set AUTHCLIENT_SERVER", EXIT_USAGE)
    try:
        with AuthClient(server, session_file=path, client_id=args.client_id,
                        client_secret=args.client_secret) as client:
            return _run(args, client)
    except ServerUnavailable as exc:
        return _fail(exc.message, EXIT_UNAVAILABLE)
    except NotLoggedIn:
        return _fail(f"not logged in to {server}: run `authclient login`", EXIT_REFUSED)
    except AuthError as exc:
        return _fail(exc.message, EXIT_REFUSED)
    except ValueError as exc:  # a malformed --server, a secret without its client id
        return _fail(str(exc), EXIT_USAGE)
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace, client: AuthClient) -> int:
    if args.command == "login":
        return _login(args, client)
    if args.command == "token":
        print(client.get_access_token())
    elif args.command == "whoami":
        me = client.whoami()
        print(f"{me.get('username')} (id {me.get('id')}), scopes: {' '.join(me.get('scopes') or []) or '-'}")
        print(client.summary())
    elif args.command == "status":
        print(client.summary())
        return 0 if client.is_valid() else EXIT_REFUSED
    elif args.command == "logout":
        was = client.session
        client.logout()
        print(f"logged out {was.username} from {client.server}" if was else "not logged in")
    return 0


def _login(args: argparse.Namespace, client: AuthClient) -> int:
    username = args.username
    if username is None:
        if args.password_stdin or not sys.stdin.isatty():
            return _fail("give the username as an argument when the password comes from stdin", EXIT_USAGE)
        username = input("Username: ").strip()
    if args.password_stdin:
        password = sys.stdin.read()
        password = password[:-1] if password.endswith("\n") else password
        password = password[:-1] if password.endswith("\r") else password
    else:
        password = getpass.getpass(f"Password for {username} at {client.server}: ")
    if not username or not password:
        return _fail("username and password must not be empty", EXIT_USAGE)
    session = client.login(username, password, scope=args.scope)
    where = client.session_file.path if client.session_file else "memory"
    print(f"logged in as {session.username} at {client.server} (session saved to {where})")
    return 0


def _stored_server(path: Path) -> str | None:
    """The server named in the stored session; warns (once) if the file is unusable."""
    session = SessionFile(path).load(None)
    return session.server if session else None


def _fail(message: str, code: int) -> int:
    print(f"authclient: error: {message}", file=sys.stderr)
    return code
