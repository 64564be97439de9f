"""Uploads carry an optional Idempotency-Key: a retried upload finds its meeting, not a twin.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-24
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(200), nullable=True))
    # NULLs never collide, so uploads without a key are unaffected.
    op.create_index(
        "uq_meetings_tenant_idempotency_key",
        "meetings",
        ["tenant_id", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_meetings_tenant_idempotency_key", table_name="meetings")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("idempotency_key")
