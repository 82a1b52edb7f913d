"""What each server answer means to the client. These are pure functions over response
objects shaped like the contract's; the suites against the live server exercise the same
paths end to end, but a database outage (503) cannot be staged there portably."""

from __future__ import annotations

import httpx
import pytest

from authclient import AuthError, LoginFailed, RateLimited, ServerUnavailable, SessionExpired
from authclient.protocol import is_invalid_token, normalise_server, token_error


def _response(status: int, body: object = None, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def test_503_keeps_tokens_and_carries_retry_after() -> None:
    error = token_error(
        _response(503, {"error": "temporarily_unavailable", "error_description": "down"}, **{"Retry-After": "5"}),
        grant="refresh_token",
    )
    assert type(error) is ServerUnavailable and error.retry_after == 5.0 and error.status_code == 503


def test_429_is_rate_limited_and_a_kind_of_unavailable() -> None:
    error = token_error(_response(429, {"error": "slow_down"}, **{"Retry-After": "42"}), grant="password")
    assert isinstance(error, RateLimited) and isinstance(error, ServerUnavailable)
    assert error.retry_after == 42.0


@pytest.mark.parametrize(
    ("grant", "status", "code", "expected"),
    [
        ("password", 400, "invalid_grant", LoginFailed),
        ("password", 400, "invalid_scope", LoginFailed),
        ("refresh_token", 400, "invalid_grant", SessionExpired),
        ("refresh_token", 400, "invalid_request", AuthError),
        ("refresh_token", 401, "invalid_client", AuthError),
    ],
)
def test_4xx_mapping(grant: str, status: int, code: str, expected: type[AuthError]) -> None:
    error = token_error(_response(status, {"error": code, "error_description": "no"}), grant=grant)
    assert type(error) is expected and error.error == code


def test_a_non_json_error_body_still_gives_a_clear_error() -> None:
    error = token_error(httpx.Response(502, text="<html>bad gateway</html>"), grant="refresh_token")
    assert type(error) is ServerUnavailable and "502" in str(error)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('Bearer realm="authserver", error="invalid_token", error_description="x"', True),
        ("Bearer error=invalid_token", True),
        ('Bearer realm="authserver"', False),  # no token sent at all: a refresh would not help
        ('Bearer error="insufficient_scope"', False),
    ],
)
def test_only_invalid_token_challenges_are_retried(header: str, expected: bool) -> None:
    assert is_invalid_token(httpx.Response(401, headers={"WWW-Authenticate": header})) is expected
    assert is_invalid_token(httpx.Response(403, headers={"WWW-Authenticate": header})) is False


def test_server_urls_are_normalised_and_checked() -> None:
    assert normalise_server("HTTP://Example.COM:8000/") == "http://example.com:8000"
    assert normalise_server("https://auth.example.com/base/") == "https://auth.example.com/base"
    with pytest.raises(ValueError, match="http"):
        normalise_server("auth.example.com")
