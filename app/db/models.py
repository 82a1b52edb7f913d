"""The schema. Rows are revoked, never deleted on the hot path: the history is what makes
reuse detection possible (a rotated token must still be recognised when it comes back)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, UtcDateTime


class User(Base):
    __tablename__ = "user_account"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(150), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    scope: Mapped[str] = mapped_column(Text, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # A deleted account stays as a tombstone (no name, no password, no scopes, inactive):
    # its id is never given to another account, so the audit trail keeps pointing at the
    # right one, and its sessions stay as revoked rows until the purge, so every worker's
    # revocation feed sees them end and a replayed token is still recognised.
    deleted_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class LoginSession(Base):
    """One login. `expires_at` is the absolute cap; `idle_expires_at` follows the newest
    refresh token, so a session whose refresh token lapsed unused is over too."""

    __tablename__ = "login_session"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("user_account.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(Text, default="")
    client_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    idle_expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_refreshed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    revoked_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # Metadata users see in their session list. last_used_at is written at most once a
    # minute per session, so the protected-route hot path stays read-only.
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)

    __table_args__ = (
        Index("ix_login_session_user_id", "user_id"),
        # the purge looks for ended sessions by each way a session can end
        Index("ix_login_session_expires_at", "expires_at"),
        Index("ix_login_session_idle_expires_at", "idle_expires_at"),
        Index("ix_login_session_revoked_at", "revoked_at"),
    )


class RefreshToken(Base):
    __tablename__ = "refresh_token"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("login_session.id", ondelete="CASCADE"))
    issued_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # The token this one was rotated into, and that pair encrypted with this token, so a
    # client that lost the answer can be given the same pair again.
    successor_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    successor_pair: Mapped[str | None] = mapped_column(Text, nullable=True)
    # When the server had the answer to the rotation that spent this token in hand (set
    # just after; app.oauth.refresh_rule): NULL on a spent token means the answer may
    # never have reached the client, so its retry gets the same pair.
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (Index("ix_refresh_token_session_id", "session_id"),)


class ServerSecret(Base):
    """Development-only signing secret, generated once and shared by every worker."""

    __tablename__ = "server_secret"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LoginAttempt(Base):
    """Fixed-window counters for login rate limits, shared by every worker and replica."""

    __tablename__ = "login_attempt"

    bucket: Mapped[str] = mapped_column(String(300), primary_key=True)
    window_start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    count: Mapped[int] = mapped_column(Integer, default=0)

    __table_args__ = (Index("ix_login_attempt_window_start", "window_start"),)


class LoginBackoff(Base):
    """Consecutive login failures of one account (`bucket` from the username), or of one
    account from one client IP (from both). A success resets `failures`; on an
    account-and-IP row it also sets `succeeded_at`, which makes that IP a known client
    of the account (app.oauth.ratelimit)."""

    __tablename__ = "login_backoff"

    bucket: Mapped[str] = mapped_column(String(80), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    failed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    succeeded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class SigningKeyRow(Base):
    """Asymmetric signing keys, one per generation. The newest generation whose
    `activates_at` has come signs; a newer one is already published (so verifiers can
    fetch it before they meet it), an older one verifies until the tokens it signed have
    expired, then it is retired and its private half erased. `generation` is unique, so
    two processes that rotate at once cannot both install a key: one insert wins."""

    __tablename__ = "signing_key"

    kid: Mapped[str] = mapped_column(String(64), primary_key=True)
    generation: Mapped[int] = mapped_column(Integer)
    algorithm: Mapped[str] = mapped_column(String(16))
    public_jwk: Mapped[str] = mapped_column(Text)
    private_key: Mapped[str | None] = mapped_column(Text, nullable=True)  # encrypted; NULL once retired
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    activates_at: Mapped[datetime] = mapped_column(UtcDateTime)
    retired_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)

    __table_args__ = (UniqueConstraint("generation", name="uq_signing_key_generation"),)


class OAuthClient(Base):
    """A registered client (RFC 6749 §2). Confidential clients have a secret, stored only
    as SHA-256: it is 256 random bits we generated, so a fast hash loses nothing. Grant
    types and scope are space-separated lists the client is limited to."""

    __tablename__ = "oauth_client"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(150))
    secret_hash: Mapped[str | None] = mapped_column(String(64), nullable=True)
    grant_types: Mapped[str] = mapped_column(Text)
    scope: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    # A disabled client authenticates no more; the row stays, so the refresh tokens bound
    # to it stay bound (a refresh rule that found no client would let anyone claim them).
    disabled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class AuditEvent(Base):
    """Security events, append-only. Never a token, password or secret: ids and names only."""

    __tablename__ = "audit_event"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    event: Mapped[str] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    username: Mapped[str | None] = mapped_column(String(150), nullable=True)
    session_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    client_id: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    user_agent: Mapped[str | None] = mapped_column(String(512), nullable=True)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)
    # who made an admin change: the admin's `sub` (admin API) or `cli` (python -m app)
    actor: Mapped[str | None] = mapped_column(String(150), nullable=True)

    __table_args__ = (Index("ix_audit_event_at", "at"), Index("ix_audit_event_user_id", "user_id"))


def table_of(model: type[Base]) -> Table:
    """The Core table of a model, typed for insert()/update() on the hot paths."""
    return cast(Table, model.__table__)
