"""The failures a protected route answers with, as RFC 6750 §3 responses.

They render exactly as the token server renders its own (a JSON body with `error` and
`error_description`, `Cache-Control: no-store`, a `WWW-Authenticate` challenge), so a
client sees one error contract across every service. Descriptions are ASCII and never
contain a token.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

REALM = "authserver"
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
RETRY_AFTER_SECONDS = 5


class BearerError(Exception):
    """Base class: `error` is the RFC 6750 §3.1 code, `status_code` the HTTP status."""

    error = "invalid_request"
    status_code = 400
    default_description = ""

    def __init__(self, description: str | None = None) -> None:
        self.description = description if description is not None else self.default_description
        super().__init__(self.description or self.error)

    def challenge(self) -> str | None:
        return f'Bearer realm="{REALM}", error="{self.error}", error_description="{_quote(self.description)}"'


class MissingToken(BearerError):
    """No credentials at all: a bare challenge without an error code (RFC 6750 §3.1)."""

    status_code = 401
    default_description = "Authentication is required."

    def challenge(self) -> str | None:
        return f'Bearer realm="{REALM}"'


class InvalidBearerRequest(BearerError):
    """Two Authorization headers, or a token sent two ways (RFC 6750 §2)."""

    default_description = "Present the bearer token in exactly one way."


class InvalidToken(BearerError):
    error = "invalid_token"
    status_code = 401
    default_description = "The access token is invalid, expired or revoked."


class InsufficientScope(BearerError):
    """A valid token without every scope the route needs: 403, since another token of
    the same grant would not help (RFC 6750 §3.1)."""

    error = "insufficient_scope"
    status_code = 403
    default_description = "The access token does not carry the scope this resource requires."

    def __init__(self, required: list[str] | tuple[str, ...], description: str | None = None) -> None:
        super().__init__(description)
        self.required = tuple(required)

    def challenge(self) -> str | None:
        return f'{super().challenge()}, scope="{_quote(" ".join(self.required))}"'


class ServiceUnavailable(BearerError):
    """The token server's keys cannot be fetched: the caller's token may be fine, so
    503 with Retry-After, never a 401 that would make it throw the token away."""

    error = "temporarily_unavailable"
    status_code = 503
    default_description = "The service is temporarily unavailable; retry later."

    def challenge(self) -> str | None:
        return None


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def error_response(exc: BearerError) -> JSONResponse:
    headers = dict(NO_STORE)
    if (value := exc.challenge()) is not None:
        headers["WWW-Authenticate"] = value
    if isinstance(exc, ServiceUnavailable):
        headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
    body = {"error": "unauthorized" if isinstance(exc, MissingToken) else exc.error}
    if exc.description:
        body["error_description"] = exc.description
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def handle_bearer_error(_: Request, exc: Exception) -> Response:
    assert isinstance(exc, BearerError)
    return error_response(exc)
