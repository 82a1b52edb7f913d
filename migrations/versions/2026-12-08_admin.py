"""user_account.deleted_at, oauth_client.disabled_at, audit_event.actor: the admin API

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-08 10:00:00
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("user_account") as batch:
        batch.add_column(sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("oauth_client") as batch:
        batch.add_column(sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("audit_event") as batch:
        batch.add_column(sa.Column("actor", sa.String(length=150), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("audit_event") as batch:
        batch.drop_column("actor")
    with op.batch_alter_table("oauth_client") as batch:
        batch.drop_column("disabled_at")
    with op.batch_alter_table("user_account") as batch:
        batch.drop_column("deleted_at")
