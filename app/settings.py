"""Settings from the environment and `.env`, with the contract's names and aliases.

Never built at import time: `create_app(None)` and the CLI build it when they run, so
tests pass `Settings(...)` directly and nothing reads `os.environ` behind their back.
"""

from __future__ import annotations

import ipaddress
import math
import re
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.security.jwk import HMAC_ALGORITHMS, load_pem_private_key, load_pem_public_key

MINUTES_MAX = 60 * 24 * 366 * 10  # ten years: beyond that a lifetime is a typo, not a policy
DEFAULT_ISSUER = "http://127.0.0.1:8000"
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
    # Earlier HMAC secrets that still verify (never sign): rotating JWT_SECRET without
    # logging anyone out. Comma-separated, like JWT_PUBLIC_KEY_FILES.
    jwt_previous_secrets: SecretStr | None = Field(None, validation_alias=AliasChoices("JWT_PREVIOUS_SECRETS"))
    jwt_algorithm: Literal["HS256", "HS384", "HS512", "EdDSA", "ES256", "RS256"] = Field(
        "HS256", validation_alias=AliasChoices("JWT_ALGORITHM")
    )
    jwt_leeway_seconds: float = Field(
        5, ge=0, le=300, allow_inf_nan=False, validation_alias=AliasChoices("JWT_LEEWAY_SECONDS")
    )
    rate_limit_enabled: bool = Field(True, validation_alias=AliasChoices("RATE_LIMIT_ENABLED"))
    # Login limits count failures only (app.oauth.ratelimit). Per account: this many
    # consecutive failures are free, then each attempt waits twice as long as the last,
    # from 1 s up to the maximum; LOGIN_ATTEMPTS_PER_USERNAME is the old name.
    login_failures_before_backoff: int = Field(
        10, gt=0,
        validation_alias=AliasChoices("LOGIN_FAILURES_BEFORE_BACKOFF", "LOGIN_ATTEMPTS_PER_USERNAME"),
    )
    login_backoff_max_seconds: int = Field(
        1200, gt=0, le=86400, validation_alias=AliasChoices("LOGIN_BACKOFF_MAX_SECONDS")
    )
    # An IP that logged in to an account this recently is not slowed by its back-off.
    login_known_client_days: float = Field(
        30, gt=0, le=366, allow_inf_nan=False, validation_alias=AliasChoices("LOGIN_KNOWN_CLIENT_DAYS")
    )
    login_attempts_per_ip: int = Field(
        300, gt=0, validation_alias=AliasChoices("LOGIN_ATTEMPTS_PER_IP")
    )
    login_attempts_window_seconds: int = Field(
        300, gt=0, le=86400, validation_alias=AliasChoices("LOGIN_ATTEMPTS_WINDOW_SECONDS")
    )
    # One hash at a time per worker by default: parallel argon2 hashes on the worker's
    # core delay every other request of the worker without raising login throughput (the
    # storm row of bench/). Raise it where a worker has spare cores.
    password_hash_concurrency: int = Field(
        1, gt=0, le=256, validation_alias=AliasChoices("PASSWORD_HASH_CONCURRENCY")
    )
    # Hashes that may wait for a hashing thread, per worker; one more is refused at once
    # (503 + Retry-After) rather than making every login wait behind a flood.
    password_hash_queue: int = Field(
        16, ge=0, le=100000, validation_alias=AliasChoices("PASSWORD_HASH_QUEUE")
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

    # Tokens other services can trust: issuer and audience (RFC 9068), asymmetric keys,
    # the client registry and the scopes the server advertises.
    jwt_issuer: str = Field(DEFAULT_ISSUER, validation_alias=AliasChoices("JWT_ISSUER"))
    jwt_audience: str = Field(
        "authserver", min_length=1, max_length=255, validation_alias=AliasChoices("JWT_AUDIENCE")
    )
    jwt_private_key_file: str | None = Field(None, validation_alias=AliasChoices("JWT_PRIVATE_KEY_FILE"))
    jwt_public_key_files: str = Field("", validation_alias=AliasChoices("JWT_PUBLIC_KEY_FILES"))
    jwt_key_encryption_key: SecretStr | None = Field(
        None, validation_alias=AliasChoices("JWT_KEY_ENCRYPTION_KEY")
    )
    allow_unregistered_public_clients: bool = Field(
        True, validation_alias=AliasChoices("ALLOW_UNREGISTERED_PUBLIC_CLIENTS")
    )
    scopes_supported: str = Field(
        "profile read write", validation_alias=AliasChoices("SCOPES_SUPPORTED")
    )

    @field_validator("jwt_issuer")
    @classmethod
    def _issuer_is_a_url(cls, value: str) -> str:
        """RFC 8414 §2: an http(s) URL without query or fragment; the discovery document
        builds every endpoint URL on it, so it is this server's public base URL."""
        parsed = urlsplit(value.strip())
        if parsed.scheme not in ("http", "https") or not parsed.hostname or parsed.query or parsed.fragment:
            raise ValueError("expected this server's public URL, e.g. https://auth.example.com")
        return value.strip().rstrip("/")

    @field_validator("scopes_supported")
    @classmethod
    def _scope_tokens(cls, value: str) -> str:
        parts = value.split()
        if any(any(c in '"\\' or not 0x21 <= ord(c) <= 0x7E for c in p) for p in parts):
            raise ValueError("space-separated scope names of printable ASCII")
        return " ".join(dict.fromkeys(parts))

    @model_validator(mode="after")
    def _keys_fit_the_algorithm(self) -> Settings:
        """Key files are read now, so a wrong path or key type stops start-up with one
        line instead of failing the first token request."""
        asymmetric = self.jwt_algorithm not in HMAC_ALGORITHMS
        for name, path in [("JWT_PRIVATE_KEY_FILE", self.jwt_private_key_file)] + [
            ("JWT_PUBLIC_KEY_FILES", f) for f in self.public_key_files
        ]:
            if not path:
                continue
            if not asymmetric:
                raise ValueError(f"{name} needs JWT_ALGORITHM EdDSA, ES256 or RS256")
            try:
                data = Path(path).read_bytes()
                if name == "JWT_PRIVATE_KEY_FILE":
                    load_pem_private_key(data, self.jwt_algorithm)
                else:
                    load_pem_public_key(data)
            except (OSError, ValueError, TypeError) as exc:
                raise ValueError(f"{name}: cannot use {path!r} ({exc})") from None
        if self.app_env == "production" and asymmetric and not self.jwt_private_key_file:
            kek = self.jwt_key_encryption_key.get_secret_value() if self.jwt_key_encryption_key else ""
            if _weak(kek):
                raise ValueError(
                    f"JWT_KEY_ENCRYPTION_KEY must be set to at least {MIN_SECRET_BYTES} random bytes "
                    f"when APP_ENV=production keeps {self.jwt_algorithm} keys in the database "
                    f"(or set JWT_PRIVATE_KEY_FILE)"
                )
        return self

    @property
    def public_key_files(self) -> list[str]:
        return [f.strip() for f in self.jwt_public_key_files.split(",") if f.strip()]

    @property
    def scopes(self) -> list[str]:
        return self.scopes_supported.split()

    session_check_interval_seconds: float = Field(
        0.5, ge=0, le=1, allow_inf_nan=False, validation_alias=AliasChoices("SESSION_CHECK_INTERVAL_SECONDS")
    )
    refresh_reuse_grace_seconds: float = Field(
        0, ge=0, le=300, allow_inf_nan=False, validation_alias=AliasChoices("REFRESH_REUSE_GRACE_SECONDS")
    )
    refresh_reuse_detection: Literal["enforce", "report"] = Field(
        "enforce", validation_alias=AliasChoices("REFRESH_REUSE_DETECTION")
    )
    trusted_proxies: str = Field("", validation_alias=AliasChoices("TRUSTED_PROXIES"))
    # Bounds `serve` puts on each connection and process (app/http_guard.py).
    http_max_header_bytes: int = Field(
        32_768, ge=1024, le=1_048_576, validation_alias=AliasChoices("HTTP_MAX_HEADER_BYTES")
    )
    http_header_timeout_seconds: float = Field(
        10, gt=0, le=300, allow_inf_nan=False, validation_alias=AliasChoices("HTTP_HEADER_TIMEOUT_SECONDS")
    )
    http_request_timeout_seconds: float = Field(
        30, gt=0, le=600, allow_inf_nan=False, validation_alias=AliasChoices("HTTP_REQUEST_TIMEOUT_SECONDS")
    )
    http_max_connections: int = Field(
        1000, ge=1, le=1_000_000, validation_alias=AliasChoices("HTTP_MAX_CONNECTIONS")
    )
    http_max_connections_per_ip: int = Field(
        128, ge=1, le=1_000_000, validation_alias=AliasChoices("HTTP_MAX_CONNECTIONS_PER_IP")
    )
    max_sessions_per_user: int = Field(
        100, ge=1, le=100_000, validation_alias=AliasChoices("MAX_SESSIONS_PER_USER")
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", validation_alias=AliasChoices("LOG_LEVEL")
    )
    redis_url: SecretStr | None = Field(None, validation_alias=AliasChoices("REDIS_URL"))
    # Set: /metrics needs `Authorization: Bearer <METRICS_TOKEN>`. Unset: public in
    # development, 404 in production (app/api/routes/health.py).
    metrics_token: SecretStr | None = Field(None, validation_alias=AliasChoices("METRICS_TOKEN"))
    # FastAPI's own OpenTelemetry instrumentation (app/api/telemetry.py): only `off` changes FastAPI's defaults.
    telemetry: Literal["auto", "on", "off"] = Field("auto", validation_alias=AliasChoices("TELEMETRY"))

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("expected redis://host:port/db, rediss://... or unix://...")
        return value or None

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
        """Model-level on purpose: a field error would echo the value, a secret."""
        if self.previous_secrets and not self.jwt_algorithm.startswith("HS"):
            raise ValueError("JWT_PREVIOUS_SECRETS needs JWT_ALGORITHM HS256, HS384 or HS512")
        if self.app_env != "production" or not self.jwt_algorithm.startswith("HS"):
            return self  # asymmetric keys are checked in _keys_fit_the_algorithm
        secret = self.jwt_secret.get_secret_value() if self.jwt_secret else ""
        if not secret:
            raise ValueError("JWT_SECRET must be set when APP_ENV=production")
        if _weak(secret):
            raise ValueError(
                f"JWT_SECRET is too weak for APP_ENV=production "
                f"(need at least {MIN_SECRET_BYTES} random bytes)"
            )
        if any(_weak(old) for old in self.previous_secrets):  # a weak one would let tokens be forged
            raise ValueError(
                f"JWT_PREVIOUS_SECRETS holds a secret too weak for APP_ENV=production "
                f"(each needs at least {MIN_SECRET_BYTES} random bytes)"
            )
        return self

    @property
    def previous_secrets(self) -> tuple[str, ...]:
        raw = self.jwt_previous_secrets.get_secret_value() if self.jwt_previous_secrets else ""
        return tuple(dict.fromkeys(part.strip() for part in raw.split(",") if part.strip()))

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


MIN_SECRET_BITS = 128  # estimated entropy a production secret must carry


def _weak(secret: str) -> bool:
    """Too short, too repetitive (`abcdefgh` × 4 carries ~96 bits by its own letter
    frequencies), or words (a phrase of lowercase words is guessable from a dictionary
    however long): a secret must look like what `secrets.token_urlsafe(48)` or
    `openssl rand -hex 32` print."""
    if len(secret.encode()) < MIN_SECRET_BYTES:
        return True
    counts = [secret.count(c) for c in set(secret)]
    bits = -sum(n * math.log2(n / len(secret)) for n in counts)
    return bits < MIN_SECRET_BITS or re.fullmatch(r"[a-z]+([ _.-][a-z]+)*", secret) is not None


def production_warnings(settings: Settings) -> list[str]:
    """Choices that are legitimate somewhere but risky facing the internet: each is one
    warning line at start-up in production."""
    if settings.app_env != "production":
        return []
    found = []
    if not settings.rate_limit_enabled:
        found.append("RATE_LIMIT_ENABLED=false: logins are not rate limited")
    if settings.refresh_reuse_detection == "report":
        found.append("REFRESH_REUSE_DETECTION=report: a stolen refresh token's reuse does not end the session")
    if settings.refresh_reuse_grace_seconds > 60:
        found.append(f"REFRESH_REUSE_GRACE_SECONDS={settings.refresh_reuse_grace_seconds:g}: "
                     "a replayed refresh token is honoured for over a minute")
    if settings.allow_unregistered_public_clients:
        found.append("ALLOW_UNREGISTERED_PUBLIC_CLIENTS=true: any caller may name any client")
    if settings.jwt_issuer == DEFAULT_ISSUER:
        found.append(f"JWT_ISSUER is the default {DEFAULT_ISSUER}: set this server's public URL")
    return [f"production: {line}" for line in found]


def mask_url(value: object) -> object:
    """A URL with its password replaced, for messages (DATABASE_URL, REDIS_URL)."""
    if not isinstance(value, str) or "://" not in value:
        return value
    return re.sub(r"(://[^:/@]*:)[^@/]*@", r"\1***@", value)


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
            parts.append(f"{name}: {msg} (got {mask_url(err.get('input'))!r})")
        else:
            parts.append(msg)
    return "invalid setting: " + "; ".join(parts)


def load_settings(**overrides: Any) -> Settings:
    """Settings() for entry points: a bad value becomes SystemExit with one clear line."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SystemExit(describe_error(exc)) from None
