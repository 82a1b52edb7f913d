"""`AsyncAuthClient`: the asyncio client, and an `httpx.Auth` for any `httpx.AsyncClient`.

    auth = AsyncAuthClient("https://auth.example.com")
    await auth.login("alice", password)
    auth.start_auto_refresh()                       # keeps the session alive while idle
    async with httpx.AsyncClient(auth=auth) as api:
        await asyncio.gather(*(api.get(url) for url in urls))

An `asyncio.Lock` makes the refresh single-flight: of 100 concurrent requests that find
the token due, one refreshes and 99 wait for it and reuse the new pair. Same decisions as
the sync client (they live in `core.py`); only the I/O differs.
"""

from __future__ import annotations


import asyncio
import logging
import os
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


class AsyncAuthClient(ClientCore, httpx.Auth):
    requires_request_body = True  # a request retried after a 401 must be replayable

    def __init__(
        self, server: str, *, session_file: str | os.PathLike[str] | None = None,
        refresh_margin: float = DEFAULT_MARGIN, http_client: httpx.AsyncClient | None = None,
        timeout: float = 10.0, clock: Callable[[], float] = time.time,
        client_id: str | None = None, client_secret: str | None = None,
    ) -> None:
        """`http_client` carries the calls to the auth server (pass one to add hooks or a
        proxy); the client closes only the one it created itself. `client_id` and
        `client_secret`: the registered OAuth client to name (see ClientCore)."""
        super().__init__(server, session_file=session_file, refresh_margin=refresh_margin, clock=clock,
                         client_id=client_id, client_secret=client_secret)
        self._http = http_client or httpx.AsyncClient(timeout=timeout)
        self._owns_http = http_client is None
        self._lock = asyncio.Lock()
        self._auto: asyncio.Task[None] | None = None

    async def login(
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
            response = await self._send(
                self._endpoints.password_grant(username, password, scope, self._client_for(None))
            )
            if response.status_code != 200:
                raise token_error(response, grant="password")
            session, event = self._parse(response, started, username, None), SessionEvent.CREATE
        async with self._lock, self._afile_lock():
            self._keep(session)
        await self._events.emit_async(event, session)
        return session

    async def refresh(self) -> Session:
        """Rotate the pair now, whether due or not."""
        return await self._refresh(force=True)

    async def get_access_token(self) -> str:
        """A valid access token, refreshed first if due: for websockets, other libraries."""
        return (await self._session_for_request()).access_token

    async def whoami(self) -> dict[str, Any]:
        """GET /user/me with the session: who the server thinks we are."""
        try:
            response = await self._http.send(self._endpoints.me(), auth=self)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.server) from exc
        if response.status_code >= 500:
            raise unavailable(response)
        if response.status_code != 200:
            raise AuthError(f"the server refused the session (HTTP {response.status_code})",
                            status_code=response.status_code)
        body: dict[str, Any] = response.json()
        return body

    async def logout(self) -> None:
        """End the session on the server, then forget it here and in the file (event
        LOGOUT). If the server cannot be reached the session is kept: retry later."""
        async with self._lock, self._afile_lock():
            self._adopt_stored([])
            current = self._session
            if current is None:
                return
            response = await self._send(self._endpoints.logout(current.access_token))
            if response.status_code == 429 or response.status_code >= 500:
                raise unavailable(response)
            if response.status_code not in (200, 204, 401):
                log.warning("logout answered HTTP %s; forgetting the session anyway", response.status_code)
            self._forget()
        await self._events.emit_async(SessionEvent.LOGOUT, current)

    def start_auto_refresh(self) -> asyncio.Task[None]:
        """Refresh in the background on the running loop; see keepalive.NO_LOOP."""
        if self._auto is None or self._auto.done():
            self._auto = keepalive.start(self._seconds_until_due, lambda: self._refresh(force=False))
        return self._auto

    def stop_auto_refresh(self) -> None:
        keepalive.stop(self._auto)
        self._auto = None

    def http(self, **kwargs: Any) -> httpx.AsyncClient:
        """An `httpx.AsyncClient` for the auth server itself, with this auth attached."""
        kwargs.setdefault("base_url", self.server)
        return httpx.AsyncClient(auth=self, **kwargs)

    async def aclose(self) -> None:
        self.stop_auto_refresh()
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> AsyncAuthClient:
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.aclose()

    # -- httpx.Auth ------------------------------------------------------------------

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        await request.aread()
        session = await self._session_for_request()
        request.headers["Authorization"] = f"Bearer {session.access_token}"
        response = yield request
        if not is_invalid_token(response):
            return
        fresh = await self._refresh(force=False, stale=session.access_token)  # once: never a loop
        request.headers["Authorization"] = f"Bearer {fresh.access_token}"
        yield request

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        raise TypeError("AsyncAuthClient is for httpx.AsyncClient; use AuthClient with httpx.Client")
        yield request  # pragma: no cover - makes this a generator

    # -- internals -------------------------------------------------------------------

    async def _session_for_request(self) -> Session:
        session = self._require()
        if not self._should_refresh(session):
            return session
        try:
            return await self._refresh(force=False, seen=session.refresh_token)
        except ServerUnavailable as exc:
            return self._postpone(session, exc)

    async def _refresh(self, *, force: bool, stale: str | None = None, seen: str | None = None) -> Session:
        events: Events = []
        try:
            async with self._lock, self._afile_lock():
                self._adopt_stored(events)
                current = self._require()
                if not self._still_due(current, force=force, stale=stale, seen=seen):
                    return current
                started = self._now()
                response = await self._send(
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
                await self._events.emit_async(event, session)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        try:
            return await self._http.send(request)
        except httpx.TransportError as exc:
            raise transport_error(exc, self.server) from exc
