"""The exceptions a caller can act on, one class per decision they have to make.

- `LoginFailed`: the server refused the username/password: ask the user again.
- `SessionExpired`: the server refused the refresh token (expired, revoked, reused): the
  stored session is gone; log in again.
- `ServerUnavailable`: 5xx, 503 during a database outage, or no connection: the tokens are
  kept, retry later (`retry_after` says when, if the server said).
- `RateLimited`: too many login attempts; a kind of `ServerUnavailable` (retry later).
- `NotLoggedIn`: the client holds no session at all.

No message ever contains a token or a password: they come from the server's RFC 6749
`error_description` (which it keeps free of secrets) or from this package.
"""

from __future__ import annotations


class AuthError(Exception):
    """Base class: `error` is the OAuth error code when the server sent one."""

    def __init__(
        self, message: str, *, error: str | None = None, status_code: int | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error = error
        self.status_code = status_code


class LoginFailed(AuthError):
    """The password grant was refused (wrong credentials, bad scope, malformed request)."""


class SessionExpired(AuthError):
    """The session can no longer be refreshed; the client is now logged out."""


class NotLoggedIn(AuthError):
    """No session is held: call `login()` (or `login(session_string=...)`) first."""


class ServerUnavailable(AuthError):
    """The server could not answer now. Nothing was thrown away: retry later."""

    def __init__(
        self, message: str, *, error: str | None = None, status_code: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, error=error, status_code=status_code)
        self.retry_after = retry_after


class RateLimited(ServerUnavailable):
    """HTTP 429 from the token endpoint; `retry_after` is the server's Retry-After."""


class NoEventLoop(RuntimeError):
    """`start_auto_refresh()` was called where no asyncio loop runs (a plain script)."""


class InvalidSessionString(AuthError, ValueError):
    """A session string that is malformed or belongs to another server."""
