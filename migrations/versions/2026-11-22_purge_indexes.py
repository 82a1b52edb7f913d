"""indexes for purging ended sessions and old login-attempt windows

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 21:05:00
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_login_session_expires_at", "login_session", ["expires_at"], unique=False)
    op.create_index("ix_login_session_idle_expires_at", "login_session", ["idle_expires_at"], unique=False)
    op.create_index("ix_login_session_revoked_at", "login_session", ["revoked_at"], unique=False)
    op.create_index("ix_login_attempt_window_start", "login_attempt", ["window_start"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_attempt_window_start", table_name="login_attempt")
    op.drop_index("ix_login_session_revoked_at", table_name="login_session")
    op.drop_index("ix_login_session_idle_expires_at", table_name="login_session")
    op.drop_index("ix_login_session_expires_at", table_name="login_session")
