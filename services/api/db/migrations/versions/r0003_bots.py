"""Meeting bots: what was asked, the runner, the reported state, the recording's meeting.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _ts(name: str, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    json_type = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
    op.create_table(
        "bots",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("meeting_url", sa.String(length=2048), nullable=False),
        sa.Column("bot_name", sa.String(length=200), nullable=False),
        _ts("join_at"),
        sa.Column("max_duration", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("platform", sa.String(length=32), nullable=True),
        sa.Column("backend", sa.String(length=32), nullable=True),
        sa.Column("runner_handle", sa.String(length=512), nullable=True),
        _ts("runner_released_at", nullable=True),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        _ts("last_heartbeat_at", nullable=True),
        sa.Column("leave_requested", sa.Boolean(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=True),
        sa.Column("timeline", json_type, nullable=True),
        sa.Column("calendar_key", sa.String(length=600), nullable=True),
        sa.Column("title", sa.String(length=500), nullable=False),
        _ts("created_at"),
        _ts("updated_at"),
        sa.CheckConstraint(
            "state IN ('scheduled', 'launching', 'joining', 'waiting_room', 'recording', "
            "'uploading', 'done', 'failed')",
            name=op.f("ck_bots_state"),
        ),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_bots_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_bots_meeting_id_meetings"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bots")),
        sa.UniqueConstraint("tenant_id", "calendar_key", name="uq_bots_tenant_calendar_key"),
    )
    op.create_index("ix_bots_tenant_created", "bots", ["tenant_id", "created_at", "id"])
    op.create_index("ix_bots_state_join_at", "bots", ["state", "join_at"])


def downgrade() -> None:
    op.drop_table("bots")
