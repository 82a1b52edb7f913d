"""Signing keys as cryptography objects and as public JWKs (RFC 7517, RFC 7518 §6).

Key ids are RFC 7638 thumbprints: derived from the key itself, so every worker and
replica computes the same `kid` without coordination, and a `kid` is always a short
base64url string, never a path or a query. One key serves exactly one algorithm: that
pairing is what stops algorithm confusion (RFC 8725 §2.1), because a token is verified
with the algorithm of the key its `kid` names, never with the one its header claims.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Union

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

ASYMMETRIC_ALGORITHMS = ("EdDSA", "ES256", "RS256")
HMAC_ALGORITHMS = ("HS256", "HS384", "HS512")
MIN_RSA_BITS = 2048  # RFC 7518 §3.3

PrivateKey = Union[ed25519.Ed25519PrivateKey, ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey]
PublicKey = Union[ed25519.Ed25519PublicKey, ec.EllipticCurvePublicKey, rsa.RSAPublicKey]


@dataclass(frozen=True)
class VerificationKey:
    kid: str
    algorithm: str
    key: Any  # a cryptography public key, or the HMAC secret as bytes


@dataclass(frozen=True)
class SigningKey:
    kid: str
    algorithm: str
    private: Any  # a cryptography private key, or the HMAC secret as bytes
    public: VerificationKey
    jwk: dict[str, str] | None  # the public JWK; None for HMAC secrets, never published


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text: object) -> bytes:
    if not isinstance(text, str) or not text:
        raise ValueError("a JWK member is missing or not a string")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _int_bytes(value: int, length: int | None = None) -> bytes:
    return value.to_bytes(length or max(1, (value.bit_length() + 7) // 8), "big")


def generate_private_key(algorithm: str) -> PrivateKey:
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=MIN_RSA_BITS)  # what RS256 JWKS commonly use
    raise ValueError(f"no key generation for {algorithm!r}")


def check_key(algorithm: str, key: PrivateKey | PublicKey) -> None:
    """Raise ValueError unless the key is of the one type the algorithm takes."""
    if algorithm == "EdDSA" and isinstance(key, (ed25519.Ed25519PrivateKey, ed25519.Ed25519PublicKey)):
        return
    if algorithm == "ES256" and isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)):
        if isinstance(key.curve, ec.SECP256R1):
            return
        raise ValueError("ES256 needs a P-256 key")
    if algorithm == "RS256" and isinstance(key, (rsa.RSAPrivateKey, rsa.RSAPublicKey)):
        if key.key_size >= MIN_RSA_BITS:
            return
        raise ValueError(f"RS256 needs an RSA key of at least {MIN_RSA_BITS} bits")
    raise ValueError(f"the key is not a {algorithm} key")


def algorithm_of(key: PrivateKey | PublicKey) -> str:
    for algorithm in ASYMMETRIC_ALGORITHMS:
        try:
            check_key(algorithm, key)
        except ValueError:
            continue
        return algorithm
    raise ValueError("unsupported key type: use Ed25519, EC P-256 or RSA (2048 bits or more)")


def _members(public: PublicKey) -> dict[str, str]:
    """The RFC 7638 required members of a public key."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url(raw)}
    if isinstance(public, ec.EllipticCurvePublicKey):
        numbers = public.public_numbers()
        return {"crv": "P-256", "kty": "EC", "x": b64url(_int_bytes(numbers.x, 32)), "y": b64url(_int_bytes(numbers.y, 32))}
    numbers_rsa = public.public_numbers()
    return {"e": b64url(_int_bytes(numbers_rsa.e)), "kty": "RSA", "n": b64url(_int_bytes(numbers_rsa.n))}


def thumbprint(public: PublicKey) -> str:
    """RFC 7638: SHA-256 of the required members, sorted, without whitespace."""
    canonical = json.dumps(_members(public), sort_keys=True, separators=(",", ":"))
    return b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def public_jwk(public: PublicKey, algorithm: str) -> dict[str, str]:
    check_key(algorithm, public)
    return {**_members(public), "kid": thumbprint(public), "alg": algorithm, "use": "sig"}


def signing_key(private: PrivateKey, algorithm: str) -> SigningKey:
    check_key(algorithm, private)
    public = private.public_key()
    jwk = public_jwk(public, algorithm)
    return SigningKey(
        kid=jwk["kid"], algorithm=algorithm, private=private,
        public=VerificationKey(jwk["kid"], algorithm, public), jwk=jwk,
    )


def verification_key(public: PublicKey, algorithm: str) -> VerificationKey:
    check_key(algorithm, public)
    return VerificationKey(thumbprint(public), algorithm, public)


def hmac_signing_key(secret: str, algorithm: str) -> SigningKey:
    """A kid for a shared secret: a hash of it, which reveals nothing of a random secret
    but changes whenever the secret does."""
    if algorithm not in HMAC_ALGORITHMS:
        raise ValueError(f"{algorithm!r} is not an HMAC algorithm")
    material = secret.encode("utf-8")
    kid = "hs-" + b64url(hashlib.sha256(b"authserver kid\x00" + material).digest())[:22]
    return SigningKey(kid, algorithm, material, VerificationKey(kid, algorithm, material), None)


def key_from_jwk(jwk: Mapping[str, object]) -> VerificationKey:
    """A public JWK as published by a JWKS: asymmetric only, with an `alg` the key fits.
    Raises ValueError for anything else (symmetric keys, unknown curves, weak RSA)."""
    algorithm = jwk.get("alg")
    if algorithm not in ASYMMETRIC_ALGORITHMS or jwk.get("use", "sig") != "sig":
        raise ValueError("not a signing key of a supported algorithm")
    kty = jwk.get("kty")
    public: PublicKey
    if kty == "OKP" and jwk.get("crv") == "Ed25519":
        public = ed25519.Ed25519PublicKey.from_public_bytes(_unb64url(jwk.get("x")))
    elif kty == "EC" and jwk.get("crv") == "P-256":
        x, y = (int.from_bytes(_unb64url(jwk.get(n)), "big") for n in ("x", "y"))
        public = ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    elif kty == "RSA":
        e, n = (int.from_bytes(_unb64url(jwk.get(m)), "big") for m in ("e", "n"))
        public = rsa.RSAPublicNumbers(e, n).public_key()
    else:
        raise ValueError("unsupported key type")
    key = verification_key(public, str(algorithm))
    if jwk.get("kid") != key.kid:
        raise ValueError("the kid is not the key's RFC 7638 thumbprint")
    return key


def private_key_to_der(private: PrivateKey) -> bytes:
    return private.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def private_key_from_der(der: bytes, algorithm: str) -> PrivateKey:
    key = serialization.load_der_private_key(der, password=None)
    check_key(algorithm, key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def load_pem_private_key(data: bytes, algorithm: str) -> PrivateKey:
    """An unencrypted PEM private key (PKCS#8 or traditional) for the configured algorithm."""
    key = serialization.load_pem_private_key(data, password=None)
    check_key(algorithm, key)  # type: ignore[arg-type]
    return key  # type: ignore[return-value]


def load_pem_public_key(data: bytes) -> VerificationKey:
    """A PEM public key, or a private key whose public half is wanted; its algorithm
    follows from its type."""
    public: Any
    if b"PRIVATE KEY" in data:
        public = serialization.load_pem_private_key(data, password=None).public_key()
    else:
        public = serialization.load_pem_public_key(data)
    return verification_key(public, algorithm_of(public))
