"""Settings of issue 4: algorithms, issuer, key files, the key-encryption key in
production; every bad value names its variable in one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from pydantic import ValidationError

from app.security.jwk import generate_private_key
from app.settings import Settings, describe_error

STRONG = "k3Jx9-vQ2pL8mZ4tR7wY1nB6cF0hD5sA_eG3uI8oP2q"


def make(**values: object) -> Settings:
    return Settings(_env_file=None, **values)  # type: ignore[arg-type]


def pem(tmp_path: Path, algorithm: str, name: str = "key.pem", public: bool = False) -> str:
    key = generate_private_key(algorithm)
    if public:
        data = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    else:
        data = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def test_defaults_keep_hs256_and_unregistered_public_clients() -> None:
    s = make()
    assert s.jwt_algorithm == "HS256" and s.allow_unregistered_public_clients is True
    assert s.jwt_issuer == "http://127.0.0.1:8000" and s.jwt_audience == "authserver"


@pytest.mark.parametrize("algorithm", ["EdDSA", "ES256", "RS256"])
def test_production_with_asymmetric_keys_needs_no_jwt_secret_but_a_key_encryption_key(algorithm: str) -> None:
    with pytest.raises(ValidationError) as info:
        make(APP_ENV="production", JWT_ALGORITHM=algorithm)
    assert "JWT_KEY_ENCRYPTION_KEY" in describe_error(info.value)
    with pytest.raises(ValidationError):
        make(APP_ENV="production", JWT_ALGORITHM=algorithm, JWT_KEY_ENCRYPTION_KEY="short")
    assert make(APP_ENV="production", JWT_ALGORITHM=algorithm, JWT_KEY_ENCRYPTION_KEY=STRONG).app_env == "production"


def test_production_with_a_key_file_needs_no_encryption_key(tmp_path: Path) -> None:
    s = make(APP_ENV="production", JWT_ALGORITHM="ES256", JWT_PRIVATE_KEY_FILE=pem(tmp_path, "ES256"))
    assert s.jwt_private_key_file


@pytest.mark.parametrize(
    "values, name",
    [
        ({"JWT_ALGORITHM": "none"}, "JWT_ALGORITHM"),
        ({"JWT_ALGORITHM": "PS256"}, "JWT_ALGORITHM"),
        ({"JWT_ISSUER": "not a url"}, "JWT_ISSUER"),
        ({"JWT_ISSUER": "https://as.example/?q=1"}, "JWT_ISSUER"),
        ({"JWT_AUDIENCE": ""}, "JWT_AUDIENCE"),
        ({"ALLOW_UNREGISTERED_PUBLIC_CLIENTS": "perhaps"}, "ALLOW_UNREGISTERED_PUBLIC_CLIENTS"),
        ({"SCOPES_SUPPORTED": 'a "b"'}, "SCOPES_SUPPORTED"),
        ({"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "/nonexistent/key.pem"}, "JWT_PRIVATE_KEY_FILE"),
        ({"JWT_ALGORITHM": "HS256", "JWT_PRIVATE_KEY_FILE": "ES256"}, "JWT_PRIVATE_KEY_FILE"),
        ({"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "ES256"}, "JWT_PRIVATE_KEY_FILE"),
        ({"JWT_ALGORITHM": "EdDSA", "JWT_PRIVATE_KEY_FILE": "EdDSA", "JWT_PUBLIC_KEY_FILES": "/nope.pem"}, "JWT_PUBLIC_KEY_FILES"),
    ],
)
def test_bad_values_name_the_variable(tmp_path: Path, values: dict[str, str], name: str) -> None:
    values = {k: pem(tmp_path, v) if k == "JWT_PRIVATE_KEY_FILE" and v in ("ES256", "EdDSA") else v for k, v in values.items()}
    with pytest.raises(ValidationError) as info:
        make(**values)
    line = describe_error(info.value)
    assert name in line and "\n" not in line


def test_issuer_loses_its_trailing_slash() -> None:
    assert make(JWT_ISSUER="https://auth.example.com/").jwt_issuer == "https://auth.example.com"
