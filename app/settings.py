"""Settings from the environment and `.env`, with the contract's names and aliases.

Never built at import time: `create_app(None)` and the CLI build it when they run, so
tests pass `Settings(...)` directly and nothing reads `os.environ` behind their back.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MINUTES_MAX = 60 * 24 * 366 * 10  # ten years: beyond that a lifetime is a typo, not a policy
MIN_SECRET_BYTES = 32  # RFC 7518 §3.2: an HS256 key at least as long as the hash output


def _minutes(default: float, *names: str) -> Any:
    return Field(
        default,
        gt=0,
        le=MINUTES_MAX,
        allow_inf_nan=False,
        validation_alias=AliasChoices(*names),
    )


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        case_sensitive=False,
    )

    database_url: str = Field(
        "sqlite:///./authserver.db", validation_alias=AliasChoices("DATABASE_URL")
    )
    app_env: Literal["development", "production"] = Field(
        "development", validation_alias=AliasChoices("APP_ENV")
    )
    access_token_validity_minutes: float = _minutes(
        20, "ACCESS_TOKEN_VALIDITY_MINUTES", "access.token.validity.in.minutes"
    )
    refresh_token_validity_minutes: float = _minutes(
        60, "REFRESH_TOKEN_VALIDITY_MINUTES", "refresh.token.validity.in.minutes"
    )
    session_max_lifetime_minutes: float = _minutes(1440, "SESSION_MAX_LIFETIME_MINUTES")
    jwt_secret: SecretStr | None = Field(None, validation_alias=AliasChoices("JWT_SECRET"))
    jwt_algorithm: Literal["HS256", "HS384", "HS512"] = Field(
        "HS256", validation_alias=AliasChoices("JWT_ALGORITHM")
    )
    jwt_leeway_seconds: float = Field(
        5, ge=0, le=300, allow_inf_nan=False, validation_alias=AliasChoices("JWT_LEEWAY_SECONDS")
    )
    rate_limit_enabled: bool = Field(True, validation_alias=AliasChoices("RATE_LIMIT_ENABLED"))
    login_attempts_per_username: int = Field(
        30, gt=0, validation_alias=AliasChoices("LOGIN_ATTEMPTS_PER_USERNAME")
    )
    login_attempts_per_ip: int = Field(
        300, gt=0, validation_alias=AliasChoices("LOGIN_ATTEMPTS_PER_IP")
    )
    login_attempts_window_seconds: int = Field(
        300, gt=0, le=86400, validation_alias=AliasChoices("LOGIN_ATTEMPTS_WINDOW_SECONDS")
    )
    password_hash_concurrency: int = Field(
        4, gt=0, le=256, validation_alias=AliasChoices("PASSWORD_HASH_CONCURRENCY")
    )
    db_connect_timeout_seconds: float = Field(
        5, gt=0, le=120, allow_inf_nan=False, validation_alias=AliasChoices("DB_CONNECT_TIMEOUT_SECONDS")
    )
    db_pool_size: int = Field(10, ge=1, le=1000, validation_alias=AliasChoices("DB_POOL_SIZE"))
    db_max_overflow: int = Field(10, ge=0, le=1000, validation_alias=AliasChoices("DB_MAX_OVERFLOW"))
    db_command_timeout_seconds: float = Field(
        10, gt=0, le=600, allow_inf_nan=False, validation_alias=AliasChoices("DB_COMMAND_TIMEOUT_SECONDS")
    )
    db_statement_cache_size: int = Field(
        100, ge=0, le=10000, validation_alias=AliasChoices("DB_STATEMENT_CACHE_SIZE")
    )
    purge_interval_seconds: float = Field(
        0, ge=0, le=86400 * 7, allow_inf_nan=False, validation_alias=AliasChoices("PURGE_INTERVAL_SECONDS")
    )
    purge_retention_minutes: float = Field(
        1440, ge=0, le=MINUTES_MAX, allow_inf_nan=False, validation_alias=AliasChoices("PURGE_RETENTION_MINUTES")
    )
    sqlite_busy_timeout_ms: int = Field(
        10000, ge=0, le=600000, validation_alias=AliasChoices("SQLITE_BUSY_TIMEOUT_MS")
    )

    trusted_proxies: str = Field("", validation_alias=AliasChoices("TRUSTED_PROXIES"))

    @field_validator("trusted_proxies")
    @classmethod
    def _proxy_networks(cls, value: str) -> str:
        """Comma-separated IPs or CIDRs whose X-Forwarded-For is believed."""
        parts = [p.strip() for p in value.split(",") if p.strip()]
        for part in parts:
            ipaddress.ip_network(part, strict=False)  # ValueError names the bad entry
        return ",".join(parts)

    @property
    def proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(p, strict=False) for p in self.trusted_proxies.split(",") if p)

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str) -> str:
        """Users write the URLs their other tools take; we speak only the async drivers."""
        url = value.strip()
        scheme, sep, rest = url.partition("://")
        if not sep or not rest:
            raise ValueError("expected sqlite:///path or postgresql://user:pw@host:port/db")
        base = scheme.split("+", 1)[0].lower()
        if base == "sqlite":
            return f"sqlite+aiosqlite://{rest}"
        if base in ("postgresql", "postgres"):
            return f"postgresql+asyncpg://{rest}"
        raise ValueError(f"unsupported database scheme {scheme!r}: use sqlite or postgresql")

    @model_validator(mode="after")
    def _production_refuses_weak_settings(self) -> Settings:
        if self.app_env != "production":
            return self
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if not secret:
            raise ValueError("JWT_SECRET must be set when APP_ENV=production")
        if len(secret.encode()) < MIN_SECRET_BYTES or len(set(secret)) < 8:
            raise ValueError(
                f"JWT_SECRET is too weak for APP_ENV=production "
                f"(need at least {MIN_SECRET_BYTES} random bytes)"
            )
        return self

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def env_name(field: str) -> str:
    """The variable a user sets for a field: the first alias the contract gives."""
    info = Settings.model_fields.get(field)
    alias = info.validation_alias if info else None
    if isinstance(alias, AliasChoices) and alias.choices:
        first = alias.choices[0]
        return first if isinstance(first, str) else field.upper()
    return field.upper()


def describe_error(exc: ValidationError) -> str:
    """One line naming the variable, for a start-up error without a traceback."""
    parts = []
    for err in exc.errors(include_url=False):
        loc = err.get("loc") or ()
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if loc:
            name = env_name(str(loc[0]))
            parts.append(f"{name}: {msg} (got {err.get('input')!r})")
        else:
            parts.append(msg)
    return "invalid setting: " + "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Settings() for entry points: a bad value becomes SystemExit with one clear line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SystemExit(describe_error(exc)) from None
