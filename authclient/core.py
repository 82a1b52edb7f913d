"""State and decisions shared by `AuthClient` and `AsyncAuthClient`.

Everything here is free of network I/O, so the sync and the async client differ only in
how they send requests and which lock they hold, and cannot drift apart in what they
decide: when a refresh is due, when a stored session replaces the one in memory, when a
failed refresh may be shrugged off.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import httpx

from authclient.errors import AuthError, NotLoggedIn, ServerUnavailable
from authclient.events import EventHub, SessionCallback, SessionEvent
from authclient.protocol import ClientCredentials, Endpoints, normalise_server, token_body
from authclient.session import Session
from authclient.storage import SessionFile

log = logging.getLogger("authclient")

DEFAULT_MARGIN = 30.0  # seconds before expiry, as the Saxo OpenAPI client does
DEFAULT_BACKOFF = 5.0  # seconds between refresh attempts while the server is unavailable

Events = list[tuple[SessionEvent, Session | None]]


class ClientCore:
    def __init__(
        self, server: str, *, session_file: str | os.PathLike[str] | None = None,
        refresh_margin: float = DEFAULT_MARGIN, clock: Callable[[], float] = time.time,
        client_id: str | None = None, client_secret: str | None = None,
    ) -> None:
        """`clock` returns epoch seconds; tests pass their own to make a token due
        without sleeping. `client_id` names a registered OAuth client (a public one
        alone, a confidential one with its `client_secret`, sent as HTTP Basic); a
        server that allows no unregistered clients needs one."""
        if refresh_margin < 0:
            raise ValueError("refresh_margin must be zero or more seconds")
        if client_secret is not None and client_id is None:
            raise ValueError("client_secret needs the client_id it belongs to")
        self.client_id = client_id or None
        self._client = ClientCredentials(client_id, client_secret) if client_id else None
        self.server = normalise_server(server)
        self.refresh_margin = float(refresh_margin)
        self._endpoints = Endpoints(self.server)
        self._store = SessionFile(session_file) if session_file is not None else None
        self._events = EventHub()
        self._session: Session | None = self._store.load(self.server) if self._store else None
        self._quiet_until = 0.0
        self._clock = clock

    def __repr__(self) -> str:
        user = self._session.username if self._session else None
        where = f", session_file={str(self._store.path)!r}" if self._store else ""
        client = f", client_id={self.client_id!r}" if self.client_id else ""
        return f"{type(self).__name__}(server={self.server!r}, user={user!r}{client}{where})"

    # -- public, side-effect free ----------------------------------------------------

    @property
    def session(self) -> Session | None:
        """The current session (immutable; its repr hides the tokens)."""
        return self._current()

    @property
    def session_file(self) -> SessionFile | None:
        return self._store

    def on_session_change(self, callback: SessionCallback) -> SessionCallback:
        """Register `callback(event, session)`; usable as a decorator. Sync or async."""
        return self._events.add(callback)

    def is_valid(self) -> bool:
        """A session is held and can still be used or refreshed, by the local clock."""
        session = self._current()
        return session is not None and session.is_valid(self._now())

    def needs_refresh(self) -> bool:
        session = self._current()
        return session is not None and session.needs_refresh(self._now(), self.refresh_margin)

    def summary(self) -> str:
        session = self._current()
        if session is None:
            return f"not logged in to {self.server}"
        return session.summary(self._now())

    def export_session(self) -> str:
        """The session string; it changes at every refresh (see `on_session_change`)."""
        return self._require().export()

    # -- shared decisions ------------------------------------------------------------

    def _now(self) -> float:
        return self._clock()

    def _current(self) -> Session | None:
        """A client started before another process logged in picks the session up here."""
        if self._session is None and self._store is not None:
            self._session = self._store.load(self.server, warn=False)
        return self._session

    def _require(self) -> Session:
        session = self._current()
        if session is None:
            raise NotLoggedIn(f"not logged in to {self.server}: call login() first")
        return session

    def _client_for(self, session: Session | None) -> ClientCredentials | None:
        """The client a token request names. A login names this client. A refresh names
        the client its session was issued to, since its refresh token refreshes for that
        client alone (RFC 6749 §6), with this client's secret when it is the same one: a
        session logged in by `authclient login --client-id` refreshes in a program that
        shares its file without being told the id again."""
        if session is None:
            return self._client
        if session.client_id is None:
            return None
        if self._client is not None and self._client.client_id == session.client_id:
            return self._client
        return ClientCredentials(session.client_id)

    def _should_refresh(self, session: Session) -> bool:
        """Due, and not within a back-off after the server said "later" (unless the
        access token is already dead, when trying again is the only option)."""
        now = self._now()
        if not session.needs_refresh(now, self.refresh_margin):
            return False
        return now >= self._quiet_until or session.access_expired(now)

    def _still_due(
        self, current: Session, *, force: bool, stale: str | None, seen: str | None = None
    ) -> bool:
        """Asked again under the lock: a waiter must not repeat the refresh it waited for.
        `seen` is the refresh token the waiter found due: if the pair changed meanwhile,
        that refresh happened (here or in another process) and the new pair is used, even
        on a loaded machine where the new pair is already near its own refresh time."""
        if force:
            return True
        if stale is not None:  # a 401 for this access token: refresh unless it was replaced
            return current.access_token == stale
        if seen is not None and current.refresh_token != seen:
            return False
        return current.needs_refresh(self._now(), self.refresh_margin)

    def _postpone(self, session: Session, exc: ServerUnavailable) -> Session:
        """A due refresh that fails for now is no reason to fail a request while the
        access token still lives: go on with it and try again after the back-off."""
        now = self._now()
        if session.access_expired(now):
            raise exc
        self._quiet_until = now + (exc.retry_after or DEFAULT_BACKOFF)
        log.warning("refresh postponed, using the current access token: %s", exc.message)
        return session

    def _seconds_until_due(self) -> float | None:
        session = self._current()
        if session is None:
            return None
        now = self._now()
        return max(session.refresh_due_at(self.refresh_margin) - now, self._quiet_until - now, 0.0)

    def _adopt_stored(self, events: Events) -> None:
        """Under the file lock: another process may have rotated the pair; its refresh
        token is the only live one now, so take it instead of spending ours."""
        if self._store is None:
            return
        stored = self._store.load(self.server, warn=False)
        if stored is None or (self._session and stored.refresh_token == self._session.refresh_token):
            return
        self._session = stored
        events.append((SessionEvent.REFRESH, stored))

    def _parse(self, response: httpx.Response, started: float, username: str,
               previous: Session | None) -> Session:
        body: dict[str, Any] = token_body(response)
        try:
            return Session.from_token_response(
                body, server=self.server, started=started, username=username, previous=previous,
                client_id=self.client_id,
            )
        except ValueError as exc:
            raise AuthError(f"unexpected token response: {exc}", status_code=200) from None

    def _import(self, session_string: str) -> Session:
        return Session.from_string(session_string, server=self.server)

    def _keep(self, session: Session) -> None:
        """Caller holds the file lock."""
        self._session = session
        self._quiet_until = 0.0
        if self._store is not None:
            self._store.save(session)

    def _forget(self) -> None:
        """Caller holds the file lock."""
        self._session = None
        if self._store is not None:
            self._store.clear()

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        if self._store is None:
            yield
        else:
            with self._store.lock():
                yield

    @contextlib.asynccontextmanager
    async def _afile_lock(self) -> AsyncIterator[None]:
        if self._store is None:
            yield
        else:
            async with self._store.alock():
                yield
