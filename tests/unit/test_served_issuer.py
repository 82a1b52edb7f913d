"""The issuer `serve` derives from --host and --port when JWT_ISSUER is unset, and the
start-up line it writes where that address is not one clients can use."""

from __future__ import annotations

import pytest

from app.cli_serve import issuer_warning, served_issuer
from app.settings import Settings
from tests.support import TEST_SECRET


def settings(app_env: str) -> Settings:
    return Settings(app_env=app_env, jwt_secret=TEST_SECRET, _env_file=None)  # type: ignore[call-arg]


@pytest.mark.parametrize(("host", "port", "issuer"), [
    ("127.0.0.1", 8123, "http://127.0.0.1:8123"),
    ("auth.internal", 9000, "http://auth.internal:9000"),
    ("::1", 8000, "http://[::1]:8000"),
    ("0.0.0.0", 8080, "http://127.0.0.1:8080"),
    ("::", 8080, "http://[::1]:8080"),
])
def test_the_issuer_is_the_address_served(host: str, port: int, issuer: str) -> None:
    assert served_issuer(host, port) == issuer
    assert Settings(jwt_issuer=served_issuer(host, port), _env_file=None).jwt_issuer == issuer  # type: ignore[call-arg]


def test_a_named_address_in_development_needs_no_warning() -> None:
    assert issuer_warning(settings("development"), "127.0.0.1", "http://127.0.0.1:8123") is None


@pytest.mark.parametrize("app_env", ["development", "production"])
def test_all_interfaces_without_an_issuer_is_warned_about(app_env: str) -> None:
    line = issuer_warning(settings(app_env), "0.0.0.0", "http://127.0.0.1:8000")
    assert line is not None and "JWT_ISSUER" in line and "http://127.0.0.1:8000" in line
    assert line.startswith("production: ") == (app_env == "production")


def test_production_without_an_issuer_is_warned_about_on_any_address() -> None:
    line = issuer_warning(settings("production"), "10.0.0.5", "http://10.0.0.5:8000")
    assert line is not None and line.startswith("production: JWT_ISSUER is not set")
