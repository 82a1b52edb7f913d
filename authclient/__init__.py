"""Client for the authserver OAuth 2.0 token server.

`AuthClient` (sync) and `AsyncAuthClient` (asyncio) log in with the password grant, attach
the bearer token to every request of any httpx client they are the `auth=` of, refresh the
pair ahead of expiry (single-flight across threads, tasks and processes), keep the session
in a file or a session string, and report every change through `on_session_change`.
Depends on httpx only.
"""

from authclient.aio import AsyncAuthClient
from authclient.errors import (
    AuthError,
    InvalidSessionString,
    LoginFailed,
    NoEventLoop,
    NotLoggedIn,
    RateLimited,
    ServerUnavailable,
    SessionExpired,
)
from authclient.events import SessionEvent
from authclient.session import Session
from authclient.storage import SessionFile, SessionFileWarning
from authclient.sync import AuthClient

__version__ = "0.1.0"

__all__ = [
    "AsyncAuthClient",
    "AuthClient",
    "AuthError",
    "InvalidSessionString",
    "LoginFailed",
    "NoEventLoop",
    "NotLoggedIn",
    "RateLimited",
    "ServerUnavailable",
    "Session",
    "SessionEvent",
    "SessionExpired",
    "SessionFile",
    "SessionFileWarning",
]
