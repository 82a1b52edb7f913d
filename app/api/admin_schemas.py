"""Shapes of the admin API (users and clients), for the OpenAPI document. Request bodies
are read by app.api.routes.admin itself (a repeated JSON key is refused, and each field
gets its own clear error); these models document them."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from app.oauth.clients import SUPPORTED_GRANTS
from app.oauth.validation import MAX_PASSWORD, MAX_USERNAME, MIN_PASSWORD

DEFAULT_USER_SCOPE = "profile"
DEFAULT_CLIENT_SCOPE = "profile"


class UserOut(BaseModel):
    id: int
    username: str
    scope: str = Field(description="Space-separated scopes the user may be granted.")
    is_active: bool
    created_at: datetime | None


class UsersOut(BaseModel):
    users: list[UserOut]
    next_cursor: str | None = Field(None, description="Pass as `cursor` for the next page; null on the last.")


class UserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(
        min_length=1, max_length=MAX_USERNAME,
        description="Stored NFC-normalised, case-sensitive; no surrounding whitespace, control or invisible "
        "characters, nor letters of mixed scripts.",
    )
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)
    scope: str = Field(DEFAULT_USER_SCOPE, description="Space-separated known scopes (SCOPES_SUPPORTED and admin).")


class ScopeChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scope: str = Field(description="The user's new scopes, space-separated; empty for none.")


class PasswordSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str = Field(min_length=MIN_PASSWORD, max_length=MAX_PASSWORD)


class UserChanged(BaseModel):
    user: UserOut
    sessions_ended: int = Field(description="Sessions the change ended (a scope taken away ends them all).")


class SessionsEnded(BaseModel):
    sessions_ended: int


class ClientOut(BaseModel):
    """RFC 7591 §3.2.1 names, as `python -m app clients` prints them."""

    client_id: str
    client_name: str
    token_endpoint_auth_method: str = Field(examples=["client_secret_basic", "none"])
    grant_types: list[str]
    scope: str
    disabled: bool
    created_at: datetime


class ClientCreated(ClientOut):
    client_secret: str | None = Field(None, description="A confidential client's secret, shown only this once.")


class ClientCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    client_name: str = Field(min_length=1, max_length=150)
    confidential: bool = Field(False, description="Give it a secret (returned only in this response).")
    grant_types: list[str] = Field(list(SUPPORTED_GRANTS))
    scope: str = Field(DEFAULT_CLIENT_SCOPE, description="Space-separated known scopes its tokens may carry.")


class ClientSecret(BaseModel):
    client_id: str
    client_secret: str


class ClientChanged(BaseModel):
    client_id: str
    sessions_ended: int
