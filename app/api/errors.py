"""The one place OAuth2 errors become HTTP responses.

Token endpoint: RFC 6749 §5.2 JSON. Protected routes and /refresh: RFC 6750 §3 challenges.
Database outages become 503 with Retry-After, never 400/401, so clients keep good tokens.
Nothing internal reaches the client: the log gets the details.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout

from app.db.engine import sqlstate_unavailable
from app.errors import (
    InsufficientScope,
    InvalidBearerRequest,
    InvalidClient,
    InvalidCredentials,
    InvalidRequest,
    InvalidToken,
    MissingToken,
    OAuthError,
    RateLimited,
    ServiceUnavailable,
)
from app.oauth.accounts import NotFound
from app.security.key_cipher import KeyDecryptionError

log = logging.getLogger("app.api")

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}
RETRY_AFTER_UNAVAILABLE = 5
UNAVAILABLE = (OperationalError, InterfaceError, DisconnectionError, PoolTimeout, OSError, TimeoutError)


def database_unavailable(exc: BaseException) -> bool:
    """The database cannot answer for now (a 503 and Retry-After, nothing spent), as
    opposed to a bug (a 500 and a logged traceback)."""
    if isinstance(exc, UNAVAILABLE):
        return True
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        # the asyncpg dialect raises most of PostgreSQL's refusals as a plain DBAPIError
        return sqlstate_unavailable(getattr(exc.orig, "sqlstate", None))
    return False


def _quote(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def challenge(exc: OAuthError) -> str | None:
    if isinstance(exc, MissingToken):
        return 'Bearer realm="authserver"'
    if isinstance(exc, InvalidToken):
        return (
            f'Bearer realm="authserver", error="invalid_token", '
            f'error_description="{_quote(exc.description)}"'
        )
    if isinstance(exc, InvalidBearerRequest):
        return (
            f'Bearer realm="authserver", error="invalid_request", '
            f'error_description="{_quote(exc.description)}"'
        )
    if isinstance(exc, InsufficientScope):
        return (
            f'Bearer realm="authserver", error="insufficient_scope", '
            f'error_description="{_quote(exc.description)}", scope="{_quote(" ".join(exc.required))}"'
        )
    if isinstance(exc, InvalidClient):
        return 'Basic realm="authserver"'
    if isinstance(exc, InvalidCredentials):
        return 'Bearer realm="authserver"'
    return None


def error_response(exc: OAuthError) -> JSONResponse:
    headers = dict(NO_STORE)
    if (value := challenge(exc)) is not None:
        headers["WWW-Authenticate"] = value
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, ServiceUnavailable):
        headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    body = {"error": "unauthorized" if isinstance(exc, MissingToken) else exc.error}
    if exc.description:
        body["error_description"] = exc.description
    return JSONResponse(body, status_code=exc.status_code, headers=headers)


async def _oauth_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, OAuthError)
    return error_response(exc)


async def _not_found(_: Request, exc: Exception) -> JSONResponse:
    """No such user, client or session (for this caller): 404."""
    return JSONResponse({"error": "not_found"}, status_code=404, headers=dict(NO_STORE))


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    return error_response(InvalidRequest("The request body or parameters are malformed."))


async def _unavailable(request: Request, exc: Exception) -> JSONResponse:
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    return error_response(ServiceUnavailable())


async def _undecryptable_key(request: Request, exc: Exception) -> JSONResponse:
    """A signing key this server cannot decrypt (start-up refuses that, but another
    replica with another JWT_KEY_ENCRYPTION_KEY may store one later): the server cannot
    sign for now, the client's tokens are fine. One line, no traceback; the message
    names the kid and the setting, never a secret."""
    log.error("cannot sign on %s %s: %s", request.method, request.url.path, exc)
    return error_response(ServiceUnavailable())


async def _database_error(request: Request, exc: Exception) -> JSONResponse:
    if database_unavailable(exc):
        return await _unavailable(request, exc)
    return await _unexpected(request, exc)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return JSONResponse(
        {"error": "server_error", "error_description": "An internal error occurred."},
        status_code=500,
        headers=dict(NO_STORE),
    )


def install_oauth_error_handler(app: FastAPI) -> None:
    """Just the OAuthError rendering: for other services using the resource-server
    helper, which keep their own handlers for everything else."""
    app.add_exception_handler(OAuthError, _oauth_error)


def install_error_handlers(app: FastAPI) -> None:
    install_oauth_error_handler(app)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(KeyDecryptionError, _undecryptable_key)
    for exc_type in UNAVAILABLE:
        app.add_exception_handler(exc_type, _unavailable)
    app.add_exception_handler(DBAPIError, _database_error)  # the rest of the driver's errors
    app.add_exception_handler(Exception, _unexpected)
