"""Cryptographic primitives: password hashing, access JWTs and opaque refresh tokens."""
