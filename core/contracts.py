"""Every message that crosses the broker, as versioned pydantic models.

This is the ONLY module shared by the API and the ML controller. A consumer rejects a message
whose `version` it does not know (it goes to the dead-letter queue with the reason), so a rolling
upgrade never half-reads a message. Add fields with defaults; bump `version` for anything else.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

CONTRACT_VERSION: Final = 1

# Broker names: one place, so both sides declare the same topology.
JOBS_EXCHANGE = "minuta.jobs"
JOBS_QUEUE = "minuta.jobs"
JOBS_RETRY_QUEUE = "minuta.jobs.retry"
JOBS_DEAD_QUEUE = "minuta.jobs.dead"
EVENTS_EXCHANGE = "minuta.events"
EVENTS_QUEUE = "minuta.events.api"
RPC_QUEUE = "minuta.rpc"
# Search: API → ML controller over RPC (an answer is needed now, or a clear "unavailable").
SEARCH_RPC_QUEUE = "minuta.rpc.search"
# Vector commands: API → ML controller, durable (a change must not be lost with no worker up).
VECTORS_QUEUE = "minuta.vectors"


def _now() -> datetime:
    return datetime.now(UTC)


class _Message(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: Literal[1] = CONTRACT_VERSION
    sent_at: datetime = Field(default_factory=_now)


class SpeakerHintsMsg(BaseModel):
    num_speakers: int | None = Field(default=None, ge=1, le=64)
    min_speakers: int | None = Field(default=None, ge=1, le=64)
    max_speakers: int | None = Field(default=None, ge=1, le=64)


class ProcessMeetingJob(_Message):
    """API → ML controller: process one recording. The URL is presigned and expires."""

    kind: Literal["process_meeting"] = "process_meeting"
    job_id: UUID
    meeting_id: UUID
    tenant_id: UUID
    audio_url: str
    audio_filename: str = "recording"
    language: str | None = None
    minutes_language: str | None = None
    speakers: SpeakerHintsMsg = Field(default_factory=SpeakerHintsMsg)
    attempt: int = 1
    # When the meeting was uploaded: its date in search filters.
    meeting_date: datetime | None = None


class FailureKind(StrEnum):
    """Bad input is final; transient failures are retried with delay, then dead-lettered."""

    bad_input = "bad_input"
    transient = "transient"
    internal = "internal"


class JobProgress(_Message):
    kind: Literal["job_progress"] = "job_progress"
    job_id: UUID
    meeting_id: UUID
    tenant_id: UUID
    stage: str
    fraction: float = Field(ge=0.0, le=1.0)


class JobCompleted(_Message):
    """The result is the JSON of `minuta process --format json` (types.MeetingResult)."""

    kind: Literal["job_completed"] = "job_completed"
    job_id: UUID
    meeting_id: UUID
    tenant_id: UUID
    result: dict[str, Any]


class JobFailed(_Message):
    kind: Literal["job_failed"] = "job_failed"
    job_id: UUID
    meeting_id: UUID
    tenant_id: UUID
    failure: FailureKind
    reason: str
    will_retry: bool = False


Event = Annotated[JobProgress | JobCompleted | JobFailed, Field(discriminator="kind")]
EVENT_ADAPTER: TypeAdapter[JobProgress | JobCompleted | JobFailed] = TypeAdapter(Event)


class UnknownContractError(ValueError):
    """A message this version of the code cannot read; it is dead-lettered, never retried."""


def parse_job(body: bytes) -> ProcessMeetingJob:
    try:
        return ProcessMeetingJob.model_validate_json(body)
    except ValueError as exc:
        raise UnknownContractError(f"not a v{CONTRACT_VERSION} process_meeting job: {exc}") from exc


def parse_event(body: bytes) -> JobProgress | JobCompleted | JobFailed:
    try:
        return EVENT_ADAPTER.validate_json(body)
    except ValueError as exc:
        raise UnknownContractError(f"not a v{CONTRACT_VERSION} job event: {exc}") from exc


# Search (RPC). The tenant comes from the caller's API key, never from the request body.


class SearchRequest(_Message):
    kind: Literal["search"] = "search"
    tenant_id: UUID
    query: str = Field(min_length=1, max_length=2000)
    limit: int = Field(default=10, ge=1, le=100)
    meeting_ids: list[UUID] | None = None
    # Only passages of this speaker label ("S1"), or of this person (the API resolves a name).
    speaker: str | None = Field(default=None, max_length=64)
    person_id: UUID | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None


class SearchHitMsg(BaseModel):
    meeting_id: UUID
    # Seconds into the recording; None for a passage of the minutes with no time.
    start: float | None = None
    end: float | None = None
    speaker: str | None = None  # the label
    text: str
    score: float
    kind: str = "transcript"  # or "minutes"


class SearchReply(_Message):
    kind: Literal["search_reply"] = "search_reply"
    hits: list[SearchHitMsg] = Field(default_factory=list)


# Vector commands (durable). Each is idempotent: applying one twice changes nothing more.


class EnrollSpeaker(_Message):
    """A person named this meeting's speaker: their voiceprint now belongs to that person."""

    kind: Literal["enroll_speaker"] = "enroll_speaker"
    tenant_id: UUID
    meeting_id: UUID
    label: str
    person_id: UUID


class MergePersons(_Message):
    kind: Literal["merge_persons"] = "merge_persons"
    tenant_id: UUID
    source_id: UUID
    target_id: UUID


class DeletePerson(_Message):
    """Deletes every voiceprint of the person."""

    kind: Literal["delete_person"] = "delete_person"
    tenant_id: UUID
    person_id: UUID


class DeleteMeetingVectors(_Message):
    """Deletes the meeting's transcript chunks and voiceprints."""

    kind: Literal["delete_meeting"] = "delete_meeting"
    tenant_id: UUID
    meeting_id: UUID


VectorCommand = EnrollSpeaker | MergePersons | DeletePerson | DeleteMeetingVectors
VECTOR_COMMAND_ADAPTER: TypeAdapter[VectorCommand] = TypeAdapter(
    Annotated[VectorCommand, Field(discriminator="kind")]
)


def parse_search_request(body: bytes) -> SearchRequest:
    try:
        return SearchRequest.model_validate_json(body)
    except ValueError as exc:
        raise UnknownContractError(f"not a v{CONTRACT_VERSION} search request: {exc}") from exc


def parse_search_reply(body: bytes) -> SearchReply:
    try:
        return SearchReply.model_validate_json(body)
    except ValueError as exc:
        raise UnknownContractError(f"not a v{CONTRACT_VERSION} search reply: {exc}") from exc


def parse_vector_command(body: bytes) -> VectorCommand:
    try:
        return VECTOR_COMMAND_ADAPTER.validate_json(body)
    except ValueError as exc:
        raise UnknownContractError(f"not a v{CONTRACT_VERSION} vector command: {exc}") from exc
