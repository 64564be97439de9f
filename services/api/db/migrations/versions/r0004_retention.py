"""Retention: each tenant's period and scope, and when a meeting's recording was deleted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26
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
    op.add_column("tenants", sa.Column("retention_days", sa.Integer(), nullable=True))
    # An inline column CHECK: SQLite can add one with ADD COLUMN (not as a separate ALTER).
    op.add_column(
        "tenants",
        sa.Column(
            "retention_scope",
            sa.String(length=16),
            sa.CheckConstraint(
                "retention_scope IN ('recording', 'everything')",
                name=op.f("ck_tenants_retention_scope"),
            ),
            nullable=False,
            server_default="recording",
        ),
    )
    op.add_column(
        "meetings",
        sa.Column("recording_deleted_at", sa.DateTime(timezone=True), nullable=True),
    )


def downgrade() -> None:
    op.drop_column("meetings", "recording_deleted_at")
    op.drop_column("tenants", "retention_scope")
    op.drop_column("tenants", "retention_days")
