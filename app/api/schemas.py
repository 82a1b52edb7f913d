"""Response and request shapes for the OpenAPI document. Pydantic stays at the edge."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = Field("Bearer", examples=["Bearer"])
    expires_in: int = Field(description="Seconds the access token is valid.")
    refresh_token: str
    refresh_expires_in: int = Field(description="Seconds the refresh token is valid, unless used first.")
    session_expires_in: int = Field(description="Seconds to the session's absolute end.")
    scope: str


class TokenForm(BaseModel):
    grant_type: Literal["password", "refresh_token"]
    username: str | None = None
    password: str | None = None
    refresh_token: str | None = None
    scope: str | None = None
    client_id: str | None = None


class LoginRequest(BaseModel):
    username: str
    password: str
    client_id: str | None = Field(None, description="A registered client; required when unregistered clients are not allowed.")
    client_secret: str | None = Field(None, description="A confidential client's secret (or send HTTP Basic).")


class RefreshForm(BaseModel):
    client_id: str | None = Field(None, description="The client the session was issued to, if it named one.")
    client_secret: str | None = Field(None, description="A confidential client's secret.")


class OAuthErrorBody(BaseModel):
    error: str
    error_description: str | None = None


class Me(BaseModel):
    id: int
    username: str
    scopes: list[str]
    session_id: str


class ProtectedResponse(BaseModel):
    message: str
    user_id: int
    session_id: str


class LogoutResponse(BaseModel):
    logged_out: bool = True


class Health(BaseModel):
    status: str


def error_responses(*codes: int) -> dict[int | str, dict[str, object]]:
    text = {
        400: "Malformed request, or an RFC 6749 §5.2 error.",
        401: "Missing, invalid, expired or revoked credentials.",
        403: "The access token lacks a scope this route requires (insufficient_scope).",
        413: "The request body is too large.",
        429: "Too many attempts; see Retry-After.",
        503: "The database is unreachable; retry after Retry-After. No token was consumed.",
    }
    return {code: {"model": OAuthErrorBody, "description": text[code]} for code in codes}
