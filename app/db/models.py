"""The schema. Rows are revoked, never deleted on the hot path: the history is what makes
reuse detection possible (a rotated token must still be recognised when it comes back)."""

from __future__ import annotations

from datetime import datetime
from typing import cast

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Table, Text
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


def table_of(model: type[Base]) -> Table:
    """The Core table of a model, typed for insert()/update() on the hot paths."""
    return cast(Table, model.__table__)
