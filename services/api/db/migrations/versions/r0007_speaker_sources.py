"""Who named a speaker (user, voice, platform, proposal), retroactive-naming proposals, and the
voiceprint schema of each meeting (prints of an older embedder are stale); bots indexed by meeting.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
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
    with op.batch_alter_table("meeting_speakers") as batch:
        batch.add_column(sa.Column("source", sa.String(16), nullable=True))
    with op.batch_alter_table("meetings") as batch:
        batch.add_column(sa.Column("voiceprint_schema", sa.String(64), nullable=True))
    op.create_table(
        "speaker_proposals",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("tenant_id", sa.Uuid(), nullable=False),
        sa.Column("person_id", sa.Uuid(), nullable=False),
        sa.Column("meeting_id", sa.Uuid(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_speaker_proposals_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["person_id"],
            ["persons.id"],
            name=op.f("fk_speaker_proposals_person_id_persons"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["meeting_id"],
            ["meetings.id"],
            name=op.f("fk_speaker_proposals_meeting_id_meetings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_speaker_proposals")),
        sa.UniqueConstraint("person_id", "meeting_id", "label", name="uq_speaker_proposals_target"),
    )
    op.create_index(
        op.f("ix_speaker_proposals_person_id"), "speaker_proposals", ["person_id"], unique=False
    )
    op.create_index(
        op.f("ix_speaker_proposals_meeting_id"), "speaker_proposals", ["meeting_id"], unique=False
    )
    op.create_index(
        "ix_speaker_proposals_tenant_state",
        "speaker_proposals",
        ["tenant_id", "state", "created_at"],
    )

    # Every completed meeting looks up its bot (names from the meeting platform).
    op.create_index(op.f("ix_bots_meeting_id"), "bots", ["meeting_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_bots_meeting_id"), table_name="bots")
    op.drop_table("speaker_proposals")
    with op.batch_alter_table("meetings") as batch:
        batch.drop_column("voiceprint_schema")
    with op.batch_alter_table("meeting_speakers") as batch:
        batch.drop_column("source")
