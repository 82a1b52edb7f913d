"""`AuthClient`: the blocking client, and an `httpx.Auth` for any `httpx.Client`.

    auth = AuthClient("https://auth.example.com", session_file="~/.config/me/session.json")
    auth.login("alice", getpass())
    with httpx.Client(auth=auth, base_url="https://api.example.com") as api:
        api.get("/orders")          # bearer attached, refreshed ahead of expiry

A `threading.RLock` makes refreshing single-flight across threads and the session file's OS
lock across processes; waiters re-check under the lock and reuse the fresh pair.
"""

from __future__ import annotations


import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from types import TracebackType
from typing import Any

import httpx

from authclient import keepalive
from authclient.core import DEFAULT_MARGIN, ClientCore, Events
from authclient.errors import AuthError, ServerUnavailable, SessionExpired
from authclient.events import SessionEvent
from authclient.protocol import is_invalid_token, token_error, transport_error, unavailable
from authclient.session import Session

log = logging.getLogger("authclient")


class AuthClient(ClientCore, httpx.Auth):
    requires_request_body = True  # a request retried after a 401 must be replayable

    def __init__(
        self, server: str, *, session_file: str | os.PathLike[str] | None = None,
        refresh_margin: float = DEFAULT_MARGIN, http_client: httpx.Client | None = None,
        timeout: float = 10.0, clock: Callable[[], float] = time.time,
        client_id: str | None = None, client_secret: str | None = None,
    ) -> None:
        """`http_client` carries the calls to the auth server (pass one to add hooks or a
        proxy); the client closes only the one it created itself. `client_id` and
        `client_secret`: the registered OAuth client to name (see ClientCore)."""
        super().__init__(server, session_file=session_file, refresh_margin=refresh_margin, clock=clock,
                         client_id=client_id, client_secret=client_secret)
        self._http = http_client or httpx.Client(timeout=timeout)
        self._owns_http = http_client is None
        self._lock = threading.RLock()
        self._auto: asyncio.Task[None] | None = None

    def login(
        self, username: str | None = None, password: str | None = None, *,
        scope: str | None = None, session_string: str | None = None,
    ) -> Session:
        """Password grant (event CREATE), or resume an exported session (event IMPORT)."""
        if session_string is not None:
            session, event = self._import(session_string), SessionEvent.IMPORT
        elif username is None or password is None:
            raise TypeError("login() needs a username and a password, or session_string=")
        else:
            started = self._now()
            response = self._send(
                self._endpoints.password_grant(username, password, scope, self._client_for(None))
            )
            if response.status_code != 200:
                raise token_error(response, grant="password")
            session, event = self._parse(response, started, username, None), SessionEvent.CREATE
        with self._lock, self._file_lock():
            self._keep(session)
        self._events.emit_sync(event, session)
        return session

    def refresh(self) -> Session:
        """Rotate the pair now, whether due or not."""
        return self._refresh(force=True)

    def get_access_token(self) -> str:
        """A valid access token, refreshed first if due: for curl, websockets, other libraries."""
        return self._session_for_request().access_token

    def whoami(self) -> dict[str, Any]:
        """GET /user/me with the session: who the server thinks we are."""
        try:
            response = self._http.send(self._endpoints.me(), auth=self)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.server) from exc
        if response.status_code >= 500:
            raise unavailable(response)
        if response.status_code != 200:
            raise AuthError(f"the server refused the session (HTTP {response.status_code})",
                            status_code=response.status_code)
        body: dict[str, Any] = response.json()
        return body

    def logout(self) -> None:
        """End the session on the server, then forget it here and in the file (event
        LOGOUT). If the server cannot be reached the session is kept: retry later."""
        with self._lock, self._file_lock():
            self._adopt_stored([])
            current = self._session
            if current is None:
                return
            response = self._send(self._endpoints.logout(current.access_token))
            if response.status_code == 429 or response.status_code >= 500:
                raise unavailable(response)
            if response.status_code not in (200, 204, 401):
                log.warning("logout answered HTTP %s; forgetting the session anyway", response.status_code)
            self._forget()
        self._events.emit_sync(SessionEvent.LOGOUT, current)

    def start_auto_refresh(self) -> asyncio.Task[None]:
        """Refresh in the background on the running loop (Jupyter); see keepalive.NO_LOOP."""
        if self._auto is None or self._auto.done():
            self._auto = keepalive.start(
                self._seconds_until_due, lambda: asyncio.to_thread(self._refresh, force=False)
            )
        return self._auto

    def stop_auto_refresh(self) -> None:
        keepalive.stop(self._auto)
        self._auto = None

    def http(self, **kwargs: Any) -> httpx.Client:
        """An `httpx.Client` for the auth server itself, with this auth attached."""
        kwargs.setdefault("base_url", self.server)
        return httpx.Client(auth=self, **kwargs)

    def close(self) -> None:
        self.stop_auto_refresh()
        if self._owns_http:
            self._http.close()

    def __enter__(self) -> AuthClient:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    # -- httpx.Auth ------------------------------------------------------------------

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.read()
        session = self._session_for_request()
        request.headers["Authorization"] = f"Bearer {session.access_token}"
        response = yield request
        if not is_invalid_token(response):
            return
        fresh = self._refresh(force=False, stale=session.access_token)  # once: never a loop
        request.headers["Authorization"] = f"Bearer {fresh.access_token}"
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        raise TypeError("AuthClient is for httpx.Client; use AsyncAuthClient with httpx.AsyncClient")
        yield request  # pragma: no cover - makes this an async generator

    # -- internals -------------------------------------------------------------------

    def _session_for_request(self) -> Session:
        session = self._require()
        if not self._should_refresh(session):
            return session
        try:
            return self._refresh(force=False, seen=session.refresh_token)
        except ServerUnavailable as exc:
            return self._postpone(session, exc)

    def _refresh(self, *, force: bool, stale: str | None = None, seen: str | None = None) -> Session:
        events: Events = []
        try:
            with self._lock, self._file_lock():
                self._adopt_stored(events)
                current = self._require()
                if not self._still_due(current, force=force, stale=stale, seen=seen):
                    return current
                started = self._now()
                response = self._send(
                    self._endpoints.refresh_grant(current.refresh_token, self._client_for(current))
                )
                if response.status_code != 200:
                    error = token_error(response, grant="refresh_token")
                    if isinstance(error, SessionExpired):
                        self._forget()
                        events.append((SessionEvent.EXPIRED, current))
                    raise error
                fresh = self._parse(response, started, current.username, current)
                self._keep(fresh)
                events.append((SessionEvent.REFRESH, fresh))
                log.debug("session refreshed; next refresh in %.0f s",
                          fresh.refresh_due_at(self.refresh_margin) - self._now())
                return fresh
        finally:  # after the locks are released, so a callback may use the client
            for event, session in events:
                self._events.emit_sync(event, session)

    def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return self._http.send(request)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.server) from exc
