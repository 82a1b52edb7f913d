"""Fixtures for the client suite: a real `python -m app serve` per test (on the test's own
database, SQLite or PostgreSQL as the root conftest decides), a user to log in as, and a
counter of the calls that reach the token endpoint."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from app.store.users import UserRecord
from tests.client.helpers import TokenCalls, short_live_server
from tests.support import live_server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: needs the network or a fresh virtualenv; deselect with -m 'not slow'")


@pytest.fixture
def server(database_url: str, user: UserRecord) -> Iterator[str]:
    """The server with its default lifetimes (20 min access, 60 min refresh)."""
    with live_server(database_url) as base:
        yield base


@pytest.fixture
def short_server(database_url: str, user: UserRecord) -> Iterator[str]:
    """The server with 3-second access tokens, so expiry happens within a test."""
    with short_live_server(database_url) as base:
        yield base


@pytest.fixture
def token_calls() -> TokenCalls:
    return TokenCalls()
