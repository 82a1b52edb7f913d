"""session metadata, refresh grace successor, audit events

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 22:40:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("login_session") as batch:
        batch.add_column(sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("user_agent", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("ip", sa.String(length=64), nullable=True))
    with op.batch_alter_table("refresh_token") as batch:
        batch.add_column(sa.Column("successor_hash", sa.String(length=64), nullable=True))
        batch.add_column(sa.Column("successor_pair", sa.Text(), nullable=True))
    op.create_table(
        "audit_event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event", sa.String(length=40), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("username", sa.String(length=150), nullable=True),
        sa.Column("session_id", sa.String(length=32), nullable=True),
        sa.Column("client_id", sa.String(length=255), nullable=True),
        sa.Column("ip", sa.String(length=64), nullable=True),
        sa.Column("user_agent", sa.String(length=512), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
    )
    op.create_index("ix_audit_event_at", "audit_event", ["at"], unique=False)
    op.create_index("ix_audit_event_user_id", "audit_event", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_audit_event_user_id", table_name="audit_event")
    op.drop_index("ix_audit_event_at", table_name="audit_event")
    op.drop_table("audit_event")
    with op.batch_alter_table("refresh_token") as batch:
        batch.drop_column("successor_pair")
        batch.drop_column("successor_hash")
    with op.batch_alter_table("login_session") as batch:
        batch.drop_column("ip")
        batch.drop_column("user_agent")
        batch.drop_column("last_used_at")
