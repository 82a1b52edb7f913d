"""Failures named after their RFC 6749 §5.2 / RFC 6750 §3.1 error codes.

The domain raises these; `app.api.errors` renders them. Descriptions are ASCII
(RFC 6749 restricts error_description to %x20-21 / %x23-5B / %x5D-7E) and never
contain a token, a password or an internal detail.
"""

from __future__ import annotations


class OAuthError(Exception):
    error: str = "server_error"
    status_code: int = 400
    default_description: str = ""

    def __init__(self, description: str | None = None) -> None:
        self.description = description if description is not None else self.default_description
        super().__init__(self.description or self.error)


class InvalidRequest(OAuthError):
    error = "invalid_request"
    default_description = "The request is missing a parameter or is malformed."


class InvalidClient(OAuthError):
    error = "invalid_client"
    status_code = 401
    default_description = "Client authentication failed."


class UnauthorizedClient(OAuthError):
    """RFC 6749 §5.2: the client is authenticated but not registered for this grant type."""

    error = "unauthorized_client"
    default_description = "The client is not allowed to use this grant type."


class InvalidGrant(OAuthError):
    error = "invalid_grant"
    default_description = "The grant is invalid, expired or revoked."


class UnsupportedGrantType(OAuthError):
    error = "unsupported_grant_type"
    default_description = "The grant type is not supported."


class InvalidScope(OAuthError):
    error = "invalid_scope"
    default_description = "The requested scope is invalid or exceeds what was granted."


class InvalidBearerRequest(InvalidRequest):
    """RFC 6750 §3.1: a malformed request to a protected resource (two Authorization
    headers, a token sent two ways). 400, with a challenge naming the error."""

    default_description = "Present the bearer token in exactly one way."


class InvalidToken(OAuthError):
    """RFC 6750 §3.1: the bearer token is expired, revoked, malformed or of the wrong type."""

    error = "invalid_token"
    status_code = 401
    default_description = "The access token is invalid, expired or revoked."


class InsufficientScope(OAuthError):
    """RFC 6750 §3.1: a valid token without the scopes the route needs. 403, not 401: the
    client is known, new credentials of the same grant would not help."""

    error = "insufficient_scope"
    status_code = 403
    default_description = "The access token does not carry the scope this resource requires."

    def __init__(self, required: list[str] | tuple[str, ...], description: str | None = None) -> None:
        super().__init__(description)
        self.required = tuple(required)


class MissingToken(OAuthError):
    """RFC 6750 §3.1: no credentials at all get a bare challenge without an error code."""

    error = "invalid_request"
    status_code = 401
    default_description = "Authentication is required."


class InvalidCredentials(OAuthError):
    """Bad username or password on /login (not an OAuth endpoint, hence 401)."""

    error = "invalid_grant"
    status_code = 401
    default_description = "Invalid username or password."


class Conflict(OAuthError):
    """An admin request that would duplicate what exists (a username taken), or asks
    for what the target cannot do (a new secret for a public client). Not an RFC 6749
    code: the admin API is no OAuth endpoint."""

    error = "conflict"
    status_code = 409
    default_description = "The request conflicts with what is stored."


class RateLimited(OAuthError):
    error = "slow_down"
    status_code = 429
    default_description = "Too many attempts; try again later."

    def __init__(self, retry_after: int, description: str | None = None) -> None:
        super().__init__(description)
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(OAuthError):
    """The store cannot be reached: clients must keep their tokens and retry (RFC 6749 §4.1.2.1)."""

    error = "temporarily_unavailable"
    status_code = 503
    default_description = "The service is temporarily unavailable; retry later."


class RequestTooLarge(InvalidRequest):
    status_code = 413
    default_description = "The request body is too large."
