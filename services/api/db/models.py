"""SQLAlchemy models of the API's database; the same schema on PostgreSQL and SQLite.

The Alembic revisions in `migrations/versions` create this schema; a test checks they agree.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, ClassVar

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Always timezone-aware UTC in Python; SQLite stores naive values and loses the zone."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


JSONType = sa.JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY.
BigIntPK = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: JSONType,
    }


class MeetingStatus(StrEnum):
    queued = "queued"
    processing = "processing"
    completed = "completed"
    failed = "failed"

    @property
    def terminal(self) -> bool:
        return self in (MeetingStatus.completed, MeetingStatus.failed)


class RetentionScope(StrEnum):
    """What the retention sweep deletes once a meeting is older than the tenant's period."""

    recording = "recording"  # the audio only; transcript, minutes and search vectors stay
    everything = "everything"  # the whole meeting, as DELETE /v1/meetings/{id} does


class Tenant(Base):
    __tablename__ = "tenants"
    __table_args__ = (
        sa.CheckConstraint(
            "retention_scope IN ('recording', 'everything')", name="retention_scope"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Days a meeting is kept; NULL keeps meetings forever (services/api/retention.py).
    retention_days: Mapped[int | None] = mapped_column(default=None)
    retention_scope: Mapped[str] = mapped_column(
        sa.String(16), default=RetentionScope.recording.value, server_default="recording"
    )


class ApiKey(Base):
    """Only the SHA-256 of a key is stored; the prefix lets a person tell keys apart."""

    __tablename__ = "api_keys"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(200), default="")
    # Indexed: a key is found by its prefix, then its hash is compared in constant time.
    prefix: Mapped[str] = mapped_column(sa.String(32), index=True)
    key_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class Meeting(Base):
    __tablename__ = "meetings"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('queued', 'processing', 'completed', 'failed')", name="status"
        ),
        # Newest-first pages of one tenant.
        sa.Index("ix_meetings_tenant_created", "tenant_id", "created_at", "id"),
        sa.Index("uq_meetings_tenant_idempotency_key", "tenant_id", "idempotency_key", unique=True),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    # The job that processes this recording; events of any other job are stale.
    job_id: Mapped[uuid.UUID] = mapped_column(unique=True, default=uuid.uuid4)
    status: Mapped[str] = mapped_column(sa.String(16), default=MeetingStatus.queued.value)
    title: Mapped[str] = mapped_column(sa.String(500), default="")
    language: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    minutes_language: Mapped[str | None] = mapped_column(sa.String(16), default=None)
    num_speakers: Mapped[int | None] = mapped_column(default=None)
    min_speakers: Mapped[int | None] = mapped_column(default=None)
    max_speakers: Mapped[int | None] = mapped_column(default=None)

    audio_key: Mapped[str] = mapped_column(sa.String(1024))
    audio_filename: Mapped[str] = mapped_column(sa.String(255), default="recording")
    audio_size: Mapped[int] = mapped_column(sa.BigInteger)
    audio_content_type: Mapped[str] = mapped_column(sa.String(100))

    # Stage name -> fraction done (0..1), as the worker reports it.
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    failure_kind: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    # The worker's MeetingResult JSON (minutes edits are written into it).
    result: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # Speaker label -> name given by a person; applied over `result` when it is read.
    speaker_names: Mapped[dict[str, Any]] = mapped_column(default=dict)

    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    completed_at: Mapped[datetime | None] = mapped_column(default=None)
    # Set when the retention sweep deleted the recording (audio_key then names nothing).
    recording_deleted_at: Mapped[datetime | None] = mapped_column(default=None)
    # The client's Idempotency-Key of the upload that created it (unique per tenant).
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), default=None)
    # The voiceprint schema its speakers were embedded with (e.g. "campplus-192-v1"); NULL for
    # meetings completed before schemas were recorded, whose prints count as "ge2e-256-v1".
    voiceprint_schema: Mapped[str | None] = mapped_column(sa.String(64), default=None)


class Person(Base):
    """Someone a tenant named; voiceprints in the vector store point here by id only."""

    __tablename__ = "persons"
    __table_args__ = (sa.UniqueConstraint("tenant_id", "name", name="uq_persons_tenant_name"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MeetingSpeaker(Base):
    """Which person a meeting's speaker label is: named by a person, or recognised by voice.

    Kept apart from the result JSON so renames, merges and deletions of persons are one UPDATE,
    and names are always read from `persons`."""

    __tablename__ = "meeting_speakers"

    meeting_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="CASCADE"), primary_key=True
    )
    label: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    # NULL: a name was cleared (the result's own name, if any, is not shown either).
    person_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("persons.id", ondelete="SET NULL"), index=True, default=None
    )
    # Who gave the name: SpeakerSource ("user", "voice", "platform", "proposal"); NULL on rows
    # written before sources were recorded.
    source: Mapped[str | None] = mapped_column(sa.String(16), default=None)


class SpeakerSource(StrEnum):
    user = "user"  # a person named the speaker (PATCH …/speakers/{label})
    voice = "voice"  # recognised from an enrolled voiceprint by the worker
    platform = "platform"  # the meeting platform's display name, from a bot's speaking timeline
    proposal = "proposal"  # a person confirmed a retroactive-naming proposal


class SpeakerProposal(Base):
    """A speaker of an earlier meeting who sounds like a person: waits for a person to decide.

    Made when a person is named (retroactive naming); nothing is renamed until confirmed."""

    __tablename__ = "speaker_proposals"
    __table_args__ = (
        sa.UniqueConstraint("person_id", "meeting_id", "label", name="uq_speaker_proposals_target"),
        sa.Index("ix_speaker_proposals_tenant_state", "tenant_id", "state", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    person_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("persons.id", ondelete="CASCADE"), index=True
    )
    meeting_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    label: Mapped[str] = mapped_column(sa.String(64))
    score: Mapped[float] = mapped_column(sa.Float)
    # "open", "confirmed" or "rejected"; a rejected proposal is never made again.
    state: Mapped[str] = mapped_column(sa.String(16), default="open")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column(default=None)


class OutboxJob(Base):
    """A job to publish. Written in the upload's transaction; sent_at is set after the confirm."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index(
            "ix_outbox_pending",
            "next_attempt_at",
            postgresql_where=sa.text("sent_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    job_id: Mapped[uuid.UUID] = mapped_column(unique=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="CASCADE"), index=True
    )
    tenant_id: Mapped[uuid.UUID] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class OutboxVectorCommand(Base):
    """A vector command to publish (core.contracts.VectorCommand JSON), written in the
    transaction of the change it follows; sent_at is set after the broker's confirm."""

    __tablename__ = "outbox_vectors"
    __table_args__ = (
        sa.Index(
            "ix_outbox_vectors_pending",
            "next_attempt_at",
            postgresql_where=sa.text("sent_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    tenant_id: Mapped[uuid.UUID] = mapped_column()
    kind: Mapped[str] = mapped_column(sa.String(32))
    body: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    sent_at: Mapped[datetime | None] = mapped_column(default=None)


class AppliedEvent(Base):
    """Terminal job events already applied: a redelivered one is recognised and skipped."""

    __tablename__ = "applied_events"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    meeting_id: Mapped[uuid.UUID] = mapped_column(index=True)
    kind: Mapped[str] = mapped_column(sa.String(32))
    applied_at: Mapped[datetime] = mapped_column(default=utcnow)


class Webhook(Base):
    __tablename__ = "webhooks"

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("tenants.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(sa.String(2048))
    # Kept in clear: signing needs it. Shown to the tenant once, at creation.
    secret: Mapped[str] = mapped_column(sa.String(128))
    events: Mapped[list[str]] = mapped_column(JSONType, default=list)
    description: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookDelivery(Base):
    """One HTTP attempt of one delivery; attempts of a delivery share delivery_id."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.Index("ix_webhook_deliveries_webhook_created", "webhook_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    webhook_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("webhooks.id", ondelete="CASCADE"))
    delivery_id: Mapped[uuid.UUID] = mapped_column(index=True)
    event: Mapped[str] = mapped_column(sa.String(64))
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(default=None)
    attempt: Mapped[int] = mapped_column()
    url: Mapped[str] = mapped_column(sa.String(2048))
    status_code: Mapped[int | None] = mapped_column(default=None)
    success: Mapped[bool] = mapped_column(default=False)
    error: Mapped[str | None] = mapped_column(sa.Text, default=None)
    duration_ms: Mapped[float] = mapped_column(sa.Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Bot(Base):
    """A meeting bot: what a tenant asked for, where its runner is, and the state it reported.

    The bot authenticates its callbacks with a token of its own; only its SHA-256 is kept."""

    __tablename__ = "bots"
    __table_args__ = (
        sa.CheckConstraint(
            "state IN ('scheduled', 'launching', 'joining', 'waiting_room', 'recording', "
            "'uploading', 'done', 'failed')",
            name="state",
        ),
        sa.Index("ix_bots_tenant_created", "tenant_id", "created_at", "id"),
        # The controller's scans: due scheduled bots, and live ones to watch.
        sa.Index("ix_bots_state_join_at", "state", "join_at"),
        # A calendar event gets one bot however often the calendar is imported.
        sa.UniqueConstraint("tenant_id", "calendar_key", name="uq_bots_tenant_calendar_key"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    tenant_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("tenants.id", ondelete="CASCADE"))
    meeting_url: Mapped[str] = mapped_column(sa.String(2048))
    bot_name: Mapped[str] = mapped_column(sa.String(200))
    join_at: Mapped[datetime] = mapped_column()
    max_duration: Mapped[float] = mapped_column(sa.Float)
    state: Mapped[str] = mapped_column(sa.String(16), default="scheduled")
    reason: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    detail: Mapped[str | None] = mapped_column(sa.Text, default=None)
    platform: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    # Which compute backend runs it and its handle there (pid, Job name, server id).
    backend: Mapped[str | None] = mapped_column(sa.String(32), default=None)
    runner_handle: Mapped[str | None] = mapped_column(sa.String(512), default=None)
    # Set once the backend's cleanup ran (process gone, Job or server deleted).
    runner_released_at: Mapped[datetime | None] = mapped_column(default=None)
    token_hash: Mapped[str | None] = mapped_column(sa.String(64), default=None)
    last_heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    leave_requested: Mapped[bool] = mapped_column(default=False)
    # Indexed: every completed meeting looks up its bot (platform names).
    meeting_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("meetings.id", ondelete="SET NULL"), default=None, index=True
    )
    # services.bots.contracts.ParticipantTimeline JSON, as the bot uploaded it.
    timeline: Mapped[dict[str, Any] | None] = mapped_column(default=None)
    # "<UID>" or "<UID>@<RECURRENCE-ID>" of the calendar event this bot was made for.
    calendar_key: Mapped[str | None] = mapped_column(sa.String(600), default=None)
    title: Mapped[str] = mapped_column(sa.String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
