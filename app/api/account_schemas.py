"""Shapes of the session, account and admin routes, for the OpenAPI document."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class SessionOut(BaseModel):
    id: str
    current: bool
    client_id: str | None
    created_at: datetime
    last_refreshed_at: datetime | None
    last_used_at: datetime | None
    expires_at: datetime
    idle_expires_at: datetime
    user_agent: str | None
    ip: str | None


class SessionsOut(BaseModel):
    sessions: list[SessionOut]
    next_cursor: str | None = None  # pass as `cursor` for the next page; null on the last


class PasswordChange(BaseModel):
    current_password: str
    new_password: str


class PasswordChanged(BaseModel):
    password_changed: bool = True
    other_sessions_ended: int


class UserDisabled(BaseModel):
    disabled: bool = True
    sessions_ended: int


class AuditEventOut(BaseModel):
    at: datetime
    event: str
    user_id: int | None
    username: str | None
    session_id: str | None
    client_id: str | None
    ip: str | None
    user_agent: str | None
    detail: str | None
    actor: str | None = Field(None, description="Who made an admin change: the admin's `sub`, or `cli`.")
