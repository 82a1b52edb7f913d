"""Shapes of the discovery, JWKS, revocation and introspection endpoints, for the
OpenAPI document. Kept apart from schemas.py: one concern per module."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class TokenForm(BaseModel):
    """RFC 7009 §2.1 / RFC 7662 §2.1 request. Client credentials go in HTTP Basic or, as
    client_id/client_secret, in the form."""

    token: str
    token_type_hint: str | None = Field(None, examples=["access_token", "refresh_token"])
    client_id: str | None = None
    client_secret: str | None = None


class Introspection(BaseModel):
    """RFC 7662 §2.2. An inactive token gets `{"active": false}` and nothing else."""

    model_config = ConfigDict(extra="allow")
    active: bool
    scope: str | None = None
    client_id: str | None = None
    username: str | None = None
    token_type: str | None = None
    exp: int | None = None
    iat: int | None = None
    sub: str | None = None
    aud: str | list[str] | None = None
    iss: str | None = None
    jti: str | None = None
    sid: str | None = Field(None, description="The session the token belongs to.")


class JsonWebKeySet(BaseModel):
    keys: list[dict[str, str]] = Field(description="Public signing keys (RFC 7517); empty with an HS* algorithm.")


class ServerMetadata(BaseModel):
    """RFC 8414 §2."""

    model_config = ConfigDict(extra="allow")
    issuer: str
    token_endpoint: str
    jwks_uri: str
    revocation_endpoint: str
    introspection_endpoint: str
    grant_types_supported: list[str]
    scopes_supported: list[str]
    # Extension metadata (RFC 8414 §2 allows more): the session policy a client plans by.
    refresh_token_rotation: bool = Field(
        description="Every refresh returns a new refresh token; the presented one is dead from then on."
    )
    refresh_token_reuse_grace_seconds: float = Field(
        description="How long the immediate predecessor of an unused refresh token, presented again, "
        "gets the same successor pair (a lost response's retry); 0: never."
    )
    refresh_token_reuse_detection: str = Field(
        description="`enforce`: a rotated refresh token presented again revokes its whole session; "
        "`report`: it is refused and recorded, the session lives on.",
        examples=["enforce"],
    )
