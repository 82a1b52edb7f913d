"""One login's state: the token pair, when each part expires, and who it belongs to.

Times are wall-clock epoch seconds (not monotonic) because a session outlives the process
that created it: it is written to a file or exported as a string and read back later.
Expiries are counted from the moment the token request was *sent*, so network latency only
ever makes the client refresh a little early, never late.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Any

from authclient.errors import InvalidSessionString

STRING_PREFIX = "authclient1:"
FORMAT = "authclient.session"
VERSION = 1


@dataclass(frozen=True)
class Session:
    """Immutable: a refresh produces a new Session, so a reader never sees half an update.
    The tokens are left out of `repr()` so a session can be logged or printed safely."""

    server: str
    username: str
    access_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    token_type: str
    scope: str
    access_lifetime: float
    access_expires_at: float
    refresh_expires_at: float | None
    session_expires_at: float | None
    created_at: float
    refreshed_at: float | None = None
    session_id: str | None = None
    # The OAuth client the session was issued to: its refresh token refreshes only for
    # that client (RFC 6749 §6). None: issued to no client. Never a secret.
    client_id: str | None = None

    @classmethod
    def from_token_response(
        cls, body: dict[str, Any], *, server: str, started: float, username: str,
        previous: Session | None = None, client_id: str | None = None,
    ) -> Session:
        """Build from an RFC 6749 §5.1 response; raises ValueError when it is not one.
        A refresh keeps the client of the session it continues."""
        access, refresh = body.get("access_token"), body.get("refresh_token")
        lifetime = body.get("expires_in")
        if not isinstance(access, str) or not isinstance(refresh, str) or not access or not refresh:
            raise ValueError("the token response lacks access_token or refresh_token")
        if not isinstance(lifetime, (int, float)) or isinstance(lifetime, bool) or lifetime <= 0:
            raise ValueError("the token response lacks a positive expires_in")
        return cls(
            server=server,
            username=previous.username if previous else username,
            access_token=access,
            refresh_token=refresh,
            token_type=str(body.get("token_type") or "Bearer"),
            scope=str(body.get("scope") or ""),
            access_lifetime=float(lifetime),
            access_expires_at=started + float(lifetime),
            refresh_expires_at=_deadline(started, body.get("refresh_expires_in")),
            session_expires_at=_deadline(started, body.get("session_expires_in")),
            created_at=previous.created_at if previous else started,
            refreshed_at=started if previous else None,
            session_id=_session_id_of(access),
            client_id=previous.client_id if previous else client_id,
        )

    # -- decisions -------------------------------------------------------------------

    def refresh_due_at(self, margin: float) -> float:
        """Refresh `margin` seconds early, but never earlier than half the lifetime, so a
        3-second test token is refreshed at 1.5 s instead of constantly."""
        return self.access_expires_at - min(margin, self.access_lifetime / 2)

    def needs_refresh(self, now: float, margin: float) -> bool:
        return now >= self.refresh_due_at(margin)

    def access_expired(self, now: float) -> bool:
        return now >= self.access_expires_at

    def is_valid(self, now: float) -> bool:
        """Usable without a new login: the access token or the refresh token still lives."""
        if self.session_expires_at is not None and now >= self.session_expires_at:
            return False
        if not self.access_expired(now):
            return True
        return self.refresh_expires_at is None or now < self.refresh_expires_at

    def summary(self, now: float) -> str:
        """One line for humans: who, how old, and when each part runs out."""
        parts = [
            f"{self.username} at {self.server}",
            f"session {_span(now - self.created_at)} old",
            f"access token {_until(self.access_expires_at, now)}",
        ]
        if self.refresh_expires_at is not None:
            parts.append(f"refresh token {_until(self.refresh_expires_at, now)}")
        if self.session_expires_at is not None:
            parts.append(f"session {_until(self.session_expires_at, now, 'ends', 'ended')}")
        return ", ".join(parts)

    # -- serialisation -----------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: object) -> Session:
        """Raises ValueError for anything that is not a session this version wrote."""
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError("not an authclient session")
        if data.get("version") != VERSION:
            raise ValueError(f"unsupported session version {data.get('version')!r}")
        values: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls)}
        for name in ("server", "username", "access_token", "refresh_token", "token_type", "scope"):
            if not isinstance(values[name], str):
                raise ValueError(f"session field {name!r} is missing or not text")
        for name in ("access_lifetime", "access_expires_at", "created_at"):
            if not _is_number(values[name]):
                raise ValueError(f"session field {name!r} is missing or not a number")
        for name in ("refresh_expires_at", "session_expires_at", "refreshed_at"):
            if values[name] is not None and not _is_number(values[name]):
                raise ValueError(f"session field {name!r} is not a number")
        for name in ("session_id", "client_id"):  # client_id: absent from files of older versions
            if values[name] is not None and not isinstance(values[name], str):
                raise ValueError(f"session field {name!r} is not text")
        return cls(**values)

    def export(self) -> str:
        """The session string: everything needed to resume, in one line of URL-safe text."""
        raw = json.dumps(self.to_dict(), separators=(",", ":")).encode()
        return STRING_PREFIX + base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def from_string(cls, text: str, *, server: str) -> Session:
        """Refuses a string made for another server: its tokens must not be sent elsewhere."""
        text = text.strip()
        if not text.startswith(STRING_PREFIX):
            raise InvalidSessionString("not an authclient session string")
        payload = text[len(STRING_PREFIX):]
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
            session = cls.from_dict(json.loads(raw))
        except (ValueError, binascii.Error) as exc:
            raise InvalidSessionString(f"malformed session string: {exc}") from None
        if session.server != server:
            raise InvalidSessionString(
                f"the session string is for {session.server}, not for {server}"
            )
        return session


def _deadline(started: float, seconds: object) -> float | None:
    return started + float(seconds) if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) else None


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _session_id_of(access_token: str) -> str | None:
    """The JWT's `sid` claim, read without verifying (the server verifies; this is only for
    display and for telling sessions apart). None when the token is not a JWT."""
    try:
        payload = access_token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        sid = claims.get("sid")
        return sid if isinstance(sid, str) else None
    except (IndexError, ValueError, AttributeError, binascii.Error):
        return None


def _span(seconds: float) -> str:
    seconds = int(max(0, seconds))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _until(moment: float, now: float, future: str = "expires", past: str = "expired") -> str:
    left = moment - now
    return f"{future} in {_span(left)}" if left > 0 else f"{past} {_span(-left)} ago"
