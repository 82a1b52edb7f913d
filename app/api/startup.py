"""Start-up checks that need the database, run in the app's lifespan (so they also guard
`uvicorn --factory app.main:create_app`, which bypasses `python -m app serve`).

A lifespan that raises makes Starlette hand uvicorn the whole traceback as the failure
message. A refusal is a bad setting, not a bug: the operator gets one line naming it.
"""

from __future__ import annotations

import logging
import sys

from sqlalchemy.exc import SQLAlchemyError
from starlette.routing import Router
from starlette.types import Message, Receive, Scope, Send

from app.oauth.keys import KeyRing
from app.oauth.stored_keys import KEK_MISMATCH, StoredKeyRing
from app.security.key_cipher import KeyDecryptionError

log = logging.getLogger("app.startup")


class StartupRefused(Exception):
    """Carries the one line uvicorn prints instead of a traceback."""


async def check_signing_keys(keys: KeyRing) -> None:
    """A wrong JWT_KEY_ENCRYPTION_KEY refuses to start. An unreachable database does not:
    a server may start before its database (requests answer 503 meanwhile), and the
    token endpoint still turns a key that does not decrypt into a 503."""
    if not isinstance(keys, StoredKeyRing):
        return
    try:
        await keys.check()
    except KeyDecryptionError:
        raise StartupRefused(KEK_MISMATCH) from None
    except (SQLAlchemyError, OSError, TimeoutError) as exc:
        # any database trouble (unreachable, starting up, too many connections, not yet
        # migrated) is for the requests to meet, as 503s; only a wrong key stops start-up
        log.warning("signing keys not checked at start-up: database not usable (%s)", type(exc).__name__)


def one_line_startup_errors(router: Router) -> None:
    """Replaces the traceback in `lifespan.startup.failed` by the refusal's line, around
    the router's lifespan handler only (a middleware would cost every request a layer).
    Starlette sends that message from inside its `except` block, hence sys.exc_info()."""
    handle = router.lifespan

    async def lifespan(scope: Scope, receive: Receive, send: Send) -> None:
        async def one_line(message: Message) -> None:
            refused = sys.exc_info()[1]
            if message["type"] == "lifespan.startup.failed" and isinstance(refused, StartupRefused):
                message = {**message, "message": str(refused)}
            await send(message)

        await handle(scope, receive, one_line)

    router.lifespan = lifespan  # type: ignore[method-assign]
