"""RFC 6749 §3.3 lets the server grant less than requested: the password grant does so
for requests that name no registered client (`partial`), and nothing else."""

from __future__ import annotations

import pytest

from app.errors import InvalidScope
from app.oauth.grants import narrow_scope

ALLOWED = "profile read"


def test_partial_grants_the_requested_scopes_that_are_allowed_in_request_order() -> None:
    assert narrow_scope("admin read profile write", ALLOWED, partial=True) == "read profile"
    assert narrow_scope(None, ALLOWED, partial=True) == ALLOWED


@pytest.mark.parametrize("requested", ["admin", "write admin"])
def test_partial_with_nothing_allowed_is_invalid_scope(requested: str) -> None:
    with pytest.raises(InvalidScope):
        narrow_scope(requested, ALLOWED, partial=True)


def test_strict_refuses_any_scope_not_allowed() -> None:
    with pytest.raises(InvalidScope):
        narrow_scope("read admin", ALLOWED)
    assert narrow_scope("read", ALLOWED) == "read"


def test_a_malformed_scope_is_invalid_even_when_partial() -> None:
    with pytest.raises(InvalidScope):
        narrow_scope('read a"b', ALLOWED, partial=True)
