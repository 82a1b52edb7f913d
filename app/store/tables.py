"""The Core tables the stores write SQL against, named once (app.db.models holds the
schema; these are its tables, typed for insert()/update() on the hot paths)."""

from __future__ import annotations

from app.db.models import (
    AuditEvent, LoginAttempt, LoginBackoff, LoginSession, OAuthClient, RefreshToken, ServerSecret, SigningKeyRow, User, table_of,
)

users = table_of(User)
sessions = table_of(LoginSession)
tokens = table_of(RefreshToken)
clients = table_of(OAuthClient)
attempts = table_of(LoginAttempt)
backoff = table_of(LoginBackoff)
events = table_of(AuditEvent)
keys = table_of(SigningKeyRow)
secrets_table = table_of(ServerSecret)
