"""Settings: the contract's names and aliases, and one clear line for a bad value."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from app.settings import Settings, describe_error


def make(**env: str) -> Settings:
    return Settings(_env_file=None, **env)  # type: ignore[arg-type]


def test_defaults() -> None:
    s = make()
    assert s.access_token_validity_minutes == 20
    assert s.refresh_token_validity_minutes == 60
    assert s.rate_limit_enabled is True
    assert s.database_url.startswith("sqlite+aiosqlite:///")


def test_egov_dotted_aliases(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("access.token.validity.in.minutes", "0.05")
    monkeypatch.setenv("refresh.token.validity.in.minutes", "7")
    s = make()
    assert s.access_token_validity_minutes == 0.05
    assert s.refresh_token_validity_minutes == 7


def test_env_file_is_read(tmp_path: os.PathLike[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with open(os.path.join(tmp_path, ".env"), "w") as fh:
        fh.write("ACCESS_TOKEN_VALIDITY_MINUTES=3\n")
    assert Settings().access_token_validity_minutes == 3


@pytest.mark.parametrize(
    "given, expected",
    [
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db"),
        ("postgresql://u:p@h:5432/d", "postgresql+asyncpg://u:p@h:5432/d"),
        ("postgres://u:p@h/d", "postgresql+asyncpg://u:p@h/d"),
        ("postgresql+asyncpg://u@h/d", "postgresql+asyncpg://u@h/d"),
        ("postgresql+psycopg2://u@h/d", "postgresql+asyncpg://u@h/d"),
    ],
)
def test_database_url_as_users_write_it(given: str, expected: str) -> None:
    assert make(DATABASE_URL=given).database_url == expected


@pytest.mark.parametrize(
    "env, name",
    [
        ({"ACCESS_TOKEN_VALIDITY_MINUTES": "-1"}, "ACCESS_TOKEN_VALIDITY_MINUTES"),
        ({"ACCESS_TOKEN_VALIDITY_MINUTES": "0"}, "ACCESS_TOKEN_VALIDITY_MINUTES"),
        ({"ACCESS_TOKEN_VALIDITY_MINUTES": "abc"}, "ACCESS_TOKEN_VALIDITY_MINUTES"),
        ({"ACCESS_TOKEN_VALIDITY_MINUTES": "nan"}, "ACCESS_TOKEN_VALIDITY_MINUTES"),
        ({"REFRESH_TOKEN_VALIDITY_MINUTES": "inf"}, "REFRESH_TOKEN_VALIDITY_MINUTES"),
        ({"SESSION_MAX_LIFETIME_MINUTES": "-5"}, "SESSION_MAX_LIFETIME_MINUTES"),
        ({"JWT_ALGORITHM": "none"}, "JWT_ALGORITHM"),
        ({"JWT_LEEWAY_SECONDS": "-1"}, "JWT_LEEWAY_SECONDS"),
        ({"RATE_LIMIT_ENABLED": "maybe"}, "RATE_LIMIT_ENABLED"),
        ({"DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"TRUSTED_PROXIES": "10.0.0.0/8, not-an-ip"}, "TRUSTED_PROXIES"),
        ({"DB_POOL_SIZE": "0"}, "DB_POOL_SIZE"),
        ({"LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        ({"APP_ENV": "production"}, "JWT_SECRET"),
        ({"APP_ENV": "production", "JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"APP_ENV": "production", "JWT_SECRET": "a" * 64}, "JWT_SECRET"),
    ],
)
def test_bad_values_name_the_variable(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], name: str) -> None:
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ValidationError) as info:
        make()
    line = describe_error(info.value)
    assert name in line
    assert "\n" not in line


def test_production_accepts_a_strong_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    monkeypatch.setenv("JWT_SECRET", "k3Jx9-vQ2pL8mZ4tR7wY1nB6cF0hD5sA_eG3uI8oP2q")
    assert make().app_env == "production"


def test_start_up_error_is_one_line_without_traceback(tmp_path: os.PathLike[str]) -> None:
    env = {k: v for k, v in os.environ.items() if "VALIDITY" not in k.upper()}
    env["ACCESS_TOKEN_VALIDITY_MINUTES"] = "-3"
    env["DATABASE_URL"] = f"sqlite:///{tmp_path}/x.db"
    proc = subprocess.run(
        [sys.executable, "-m", "app", "migrate"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "ACCESS_TOKEN_VALIDITY_MINUTES" in lines[0]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("secret", [
    "abcdefgh" * 4,  # 32 bytes, 8 letters: ~96 bits
    "correct horse battery staple mountain river",  # a phrase: a dictionary guesses it
    "correct-horse-battery-staple-mountain-river",
    "a" * 64,
    "short",
])
def test_production_refuses_a_weak_secret(secret: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Settings(app_env="production", jwt_secret=secret, _env_file=None)  # type: ignore[call-arg]
    line = describe_error(refused.value)
    assert "JWT_SECRET" in line and secret not in line


@pytest.mark.parametrize("make", [lambda: __import__("secrets").token_urlsafe(48), lambda: __import__("secrets").token_hex(32)])
def test_production_takes_the_secrets_the_readme_makes(make: object) -> None:
    Settings(app_env="production", jwt_secret=make(), _env_file=None)  # type: ignore[call-arg,operator]


@pytest.mark.parametrize(("name", "value"), [
    ("DATABASE_URL", "mysql://admin:hunter2-secret@db.example:3306/auth"),
    ("REDIS_URL", "http://:hunter2-secret@cache.example:6379/0"),
])
def test_start_up_errors_mask_passwords_in_urls(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    line = describe_error(refused.value)
    assert name in line and "hunter2" not in line and "***" in line


def test_production_warns_once_for_each_risky_choice() -> None:
    from app.settings import production_warnings

    strong = __import__("secrets").token_urlsafe(48)
    risky = Settings(
        app_env="production", jwt_secret=strong, rate_limit_enabled=False, refresh_reuse_detection="report",
        refresh_reuse_grace_seconds=300, allow_unregistered_public_clients=True, _env_file=None,  # type: ignore[call-arg]
    )
    warnings = production_warnings(risky)
    for name in ("RATE_LIMIT_ENABLED", "REFRESH_REUSE_DETECTION", "REFRESH_REUSE_GRACE_SECONDS",
                 "ALLOW_UNREGISTERED_PUBLIC_CLIENTS", "JWT_ISSUER"):
        assert sum(name in w for w in warnings) == 1, name
    careful = risky.model_copy(update={
        "rate_limit_enabled": True, "refresh_reuse_detection": "enforce", "refresh_reuse_grace_seconds": 0,
        "allow_unregistered_public_clients": False, "jwt_issuer": "https://auth.example.com",
    })
    assert production_warnings(careful) == []
    assert production_warnings(risky.model_copy(update={"app_env": "development"})) == []


def test_a_new_sqlite_database_is_private_and_an_exposed_one_is_reported(
    tmp_path: os.PathLike[str], caplog: pytest.LogCaptureFixture
) -> None:
    import stat
    from pathlib import Path

    from app.db.migrate import upgrade

    path = Path(tmp_path) / "auth.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    for file in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):
        if file.exists():
            assert stat.S_IMODE(file.stat().st_mode) == 0o600, file
    assert not caplog.records
    path.chmod(0o644)
    upgrade(f"sqlite+aiosqlite:///{path}")
    assert any("readable by other users" in r.getMessage() for r in caplog.records)
