"""Security events: stored for `GET /admin/audit` and `python -m app audit tail`, and
emitted as one structured log line each. Events carry ids and names only: never a
token, a password or a secret (the callers have none to give, by construction).

Recording is best effort: an audit write that fails is logged, and never turns a
successful login into an error, nor hides the real error of a failed one.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, fields

from app.clock import Clock
from app.logs import log_fields
from app.metrics import count_event
from app.store.audit import AuditRecord, AuditStore

log = logging.getLogger("app.audit")

LOGIN_SUCCEEDED = "login_succeeded"
LOGIN_FAILED = "login_failed"
REFRESHED = "refreshed"
GRACE_RETRY = "refresh_grace_retry"
REUSE_DETECTED = "reuse_detected"
REUSE_REPORTED = "reuse_reported"
LOGOUT = "logout"
REVOKED = "revoked"  # RFC 7009 revocation by a client
EXPIRED_IDLE = "session_expired_idle"  # its refresh token lapsed unused (seen when presented)
EXPIRED_ABSOLUTE = "session_expired_absolute"  # past SESSION_MAX_LIFETIME (seen when presented)
SESSION_ENDED = "session_ended"
PASSWORD_CHANGED = "password_changed"
USER_DISABLED = "user_disabled"
RATE_LIMITED = "rate_limited"
CLIENT_SECRET_RESET = "client_secret_reset"
CLIENT_DELETED = "client_deleted"
# admin changes (the command line and /admin/...): `actor` says who made them
USER_CREATED = "user_created"
USER_ENABLED = "user_enabled"
USER_DELETED = "user_deleted"
USER_SCOPE_CHANGED = "user_scope_changed"
PASSWORD_SET = "password_set"  # by an admin, without the current password
CLIENT_CREATED = "client_created"
CLIENT_DISABLED = "client_disabled"
CLIENT_ENABLED = "client_enabled"


def attempted_name(username: str) -> str:
    """What the trail keeps of a name no account has: people type their password into
    the username field, and the trail must not store it. The first 16 hex of SHA-256
    still let an operator match repeated attempts, or check a name they suspect
    (`printf %s NAME | sha256sum`)."""
    return "sha256:" + hashlib.sha256(username.encode("utf-8", "surrogatepass")).hexdigest()[:16]


@dataclass(frozen=True)
class RequestContext:
    """Who is asking, as far as the HTTP edge knows it. `actor`: the admin making a
    change (their `sub`, or `cli` for the command line)."""

    ip: str | None = None
    user_agent: str | None = None
    client_id: str | None = None
    actor: str | None = None


class Auditor:
    def __init__(self, store: AuditStore, clock: Clock) -> None:
        self._store = store
        self._clock = clock

    async def record(
        self, event: str, context: RequestContext | None = None, *, user_id: int | None = None,
        username: str | None = None, session_id: str | None = None, detail: str | None = None,
    ) -> None:
        record = self.draft(event, context, user_id=user_id, username=username, session_id=session_id, detail=detail)
        self.emit(record)
        try:
            await self._store.append(record)
        except Exception:  # noqa: BLE001 - see the module docstring
            log.warning("could not store audit event %s", event, exc_info=True)

    def draft(
        self, event: str, context: RequestContext | None = None, *, user_id: int | None = None,
        username: str | None = None, session_id: str | None = None, detail: str | None = None,
    ) -> AuditRecord:
        """The row of an event, for a store that writes it inside its own transaction
        (a refresh: the row commits with the rotation, or neither does); then `emit`."""
        ctx = context or RequestContext()
        return AuditRecord(
            at=self._clock.now(), event=event, user_id=user_id, username=_clip(username, 150),
            session_id=session_id, client_id=_clip(ctx.client_id, 255), ip=_clip(ctx.ip, 64),
            user_agent=_clip(ctx.user_agent, 512), detail=detail, actor=_clip(ctx.actor, 150),
        )

    def emit(self, record: AuditRecord) -> None:
        """Count and log a stored event."""
        count_event(record.event)
        log_fields(log, logging.INFO, "audit %s", (record.event,), {"audit": record.event, **_loggable(record)})

    async def tail(self, limit: int = 100, *, user_id: int | None = None, event: str | None = None) -> list[AuditRecord]:
        return await self._store.tail(limit, user_id=user_id, event=event)


def _clip(value: str | None, size: int) -> str | None:
    return value[:size] if value else value


def _loggable(record: AuditRecord) -> dict[str, object]:
    # not dataclasses.asdict: it deep-copies every value, a third of a refresh's audit cost
    data: dict[str, object] = {k: v for k in _FIELDS if (v := getattr(record, k)) is not None}
    data["at"] = str(record.at)
    return data


_FIELDS = tuple(f.name for f in fields(AuditRecord) if f.name != "event")
