"""The wire format of the server's contract, without any I/O: which request to send,
and what a response means. Shared by the sync and the async client so both decide alike.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from authclient.errors import (
    AuthError,
    LoginFailed,
    RateLimited,
    ServerUnavailable,
    SessionExpired,
)

TOKEN_PATH = "/user/oauth/token"
LOGOUT_PATH = "/user/_logout"
ME_PATH = "/user/me"
_INVALID_TOKEN = re.compile(r'error\s*=\s*"?invalid_token"?', re.IGNORECASE)


def normalise_server(url: str) -> str:
    """`HTTP://Host:8000/` and `http://host:8000` name the same server (and the same file)."""
    parsed = httpx.URL(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"server must be an http(s) URL such as https://auth.example.com, got {url!r}")
    return str(parsed.copy_with(query=None, fragment=None)).rstrip("/")


@dataclass(frozen=True)
class ClientCredentials:
    """The OAuth client a token request names (RFC 6749 §2.3). A confidential client
    (one with a secret) authenticates with HTTP Basic, which every server must support
    (§2.3.1); a public client names itself with `client_id` in the form (§3.2.1). The
    secret is left out of `repr()`."""

    client_id: str
    secret: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.client_id:
            raise ValueError("client_id must not be empty")
        if self.secret == "":
            raise ValueError("client_secret must not be empty (leave it out for a public client)")

    def apply(self, form: dict[str, str], headers: dict[str, str]) -> None:
        if self.secret is None:
            form["client_id"] = self.client_id
            return
        # §2.3.1: each part form-urlencoded before the Base64 (`quote` encodes a space as
        # %20, which every form decoder reads back; `+` would not survive a plain unquote).
        raw = f"{quote(self.client_id, safe='')}:{quote(self.secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(raw.encode()).decode("ascii")


@dataclass(frozen=True)
class Endpoints:
    server: str

    def password_grant(
        self, username: str, password: str, scope: str | None, client: ClientCredentials | None = None
    ) -> httpx.Request:
        form = {"grant_type": "password", "username": username, "password": password}
        if scope:
            form["scope"] = scope
        return self._token_request(form, client)

    def refresh_grant(self, refresh_token: str, client: ClientCredentials | None = None) -> httpx.Request:
        return self._token_request({"grant_type": "refresh_token", "refresh_token": refresh_token}, client)

    def logout(self, token: str) -> httpx.Request:
        return httpx.Request("POST", self.server + LOGOUT_PATH, headers=_bearer(token))

    def me(self) -> httpx.Request:
        return httpx.Request("GET", self.server + ME_PATH)

    def _token_request(self, form: dict[str, str], client: ClientCredentials | None) -> httpx.Request:
        headers = {"Accept": "application/json"}
        if client is not None:
            client.apply(form, headers)
        return httpx.Request("POST", self.server + TOKEN_PATH, data=form, headers=headers)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def is_invalid_token(response: httpx.Response) -> bool:
    """RFC 6750 §3.1: only `error="invalid_token"` means "a new token may help"; a bare
    401 challenge or `insufficient_scope` would fail again with any token."""
    if response.status_code != 401:
        return False
    return bool(_INVALID_TOKEN.search(response.headers.get("www-authenticate", "")))


def token_body(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 200 token response; AuthError if the server sent something else."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise AuthError("the token endpoint answered 200 without a JSON object", status_code=200)
    return body


def token_error(response: httpx.Response, *, grant: str) -> AuthError:
    """The exception for a non-200 token response. `invalid_grant` means bad credentials on
    a password grant and a dead session on a refresh grant; 429/5xx keep the tokens."""
    error, description = _oauth_error(response)
    status = response.status_code
    text = f"{description or error or 'HTTP ' + str(status)} (HTTP {status})"
    if status == 429:
        return RateLimited(f"too many attempts: {text}", error=error, status_code=status,
                           retry_after=_retry_after(response))
    if status >= 500:
        return unavailable(response, error, text)
    if grant == "password" and status in (400, 401):
        return LoginFailed(f"login refused: {text}", error=error, status_code=status)
    if grant == "refresh_token" and error == "invalid_grant":
        return SessionExpired(f"session expired: {text}; log in again", error=error, status_code=status)
    return AuthError(f"the token endpoint refused the request: {text}", error=error, status_code=status)


def unavailable(response: httpx.Response, error: str | None = None, text: str | None = None) -> ServerUnavailable:
    if text is None:
        error, description = _oauth_error(response)
        text = f"{description or error or 'server error'} (HTTP {response.status_code})"
    return ServerUnavailable(f"server unavailable: {text}; the session is kept",
                             error=error, status_code=response.status_code,
                             retry_after=_retry_after(response))


def transport_error(exc: httpx.TransportError, server: str) -> ServerUnavailable:
    return ServerUnavailable(f"cannot reach {server} ({type(exc).__name__}); the session is kept")


def _oauth_error(response: httpx.Response) -> tuple[str | None, str | None]:
    try:
        body = response.json()
    except ValueError:
        return None, None
    if not isinstance(body, dict):
        return None, None
    error, description = body.get("error"), body.get("error_description")
    return (error if isinstance(error, str) else None,
            description if isinstance(description, str) else None)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "")
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # the HTTP-date form: callers fall back to their own back-off

