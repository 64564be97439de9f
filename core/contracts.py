"""Every message that crosses the broker, as versioned pydantic models.

This is the ONLY module shared by the API and the ML controller. A consumer rejects a message
whose `version` it does not know (it goes to the dead-letter queue with the reason), so a rolling
upgrade never half-reads a message. Add fields with defaults; bump `version` for anything else.

Each message is sent with the version of its own last change, and read in every version still
in flight. Version 2 changed `job_completed` only (a typed result without voiceprints), so its
consumer, the API, is upgraded before the workers; every other message is still sent as v1.
`speaker_matches` is a new v1 kind on the events queue: an API that does not know it dead-letters
it (nothing is lost but proposals), so here too the API is upgraded first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Final, Literal, Self
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

from core.results import MeetingResult

CONTRACT_VERSION: Final = 2
# The version of the messages that version 2 left as they were.
_V1: Final = 1

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


class _Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: int  # each message narrows it to the versions it reads
    sent_at: datetime = Field(default_factory=_now)


class _Message(_Envelope):
    """A message unchanged since v1."""

    version: Literal[1] = _V1


# How many people speak, when the user knows; `num_speakers` wins over the min/max bounds. The
# API's upload form, the job message and the diarizers all take this one model. (Comments, not a
# docstring: a docstring would become the API's OpenAPI description of it.)
class SpeakerHints(BaseModel):
    num_speakers: int | None = Field(default=None, ge=1, le=64)
    min_speakers: int | None = Field(default=None, ge=1, le=64)
    max_speakers: int | None = Field(default=None, ge=1, le=64)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        low, high, exact = self.min_speakers, self.max_speakers, self.num_speakers
        if low is not None and high is not None and low > high:
            raise ValueError("min_speakers must not be greater than max_speakers")
        if exact is not None and (
            (low is not None and exact < low) or (high is not None and exact > high)
        ):
            raise ValueError("num_speakers must lie between min_speakers and max_speakers")
        return self

    def bounds(self, default_max: int = 8) -> tuple[int, int]:
        """The (fewest, most) speakers to look for."""
        if self.num_speakers is not None:
            return self.num_speakers, self.num_speakers
        low = self.min_speakers or 1
        high = self.max_speakers or max(default_max, low)
        return low, high


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
    speakers: SpeakerHints = Field(default_factory=SpeakerHints)
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


# Keys of a v1 `job_completed` result that are not the result's: the speakers' voiceprints.
_V1_INTERNAL_KEYS: Final = frozenset({"voiceprints", "voiceprint_schema"})


class JobCompleted(_Envelope):
    """The result is what `minuta process --format json` writes. v1 (still read: it may be
    queued during an upgrade) carried it as a dict that could hold the voiceprints too."""

    version: Literal[1, 2] = CONTRACT_VERSION
    kind: Literal["job_completed"] = "job_completed"
    job_id: UUID
    meeting_id: UUID
    tenant_id: UUID
    result: MeetingResult

    @model_validator(mode="before")
    @classmethod
    def _from_v1(cls, data: Any) -> Any:
        # Biometric data never reaches the typed result, whatever the model ignores by default.
        if isinstance(data, dict) and data.get("version") == 1:
            result = data.get("result")
            if isinstance(result, dict):
                kept = {k: v for k, v in result.items() if k not in _V1_INTERNAL_KEYS}
                return {**data, "result": kept}
        return data


class JobFailed(_Message):
    kind: Literal["job_failed"] = "job_failed"
    job_id: UUID
    meeting_id: UUID
    tenant_id: UUID
    failure: FailureKind
    reason: str
    will_retry: bool = False


class ProposedSpeaker(BaseModel):
    """A speaker of another meeting whose voice scored `score` against the named one."""

    meeting_id: UUID
    label: str = Field(max_length=64)
    score: float


class SpeakerMatches(_Message):
    """ML controller → API, after enrolling a named speaker: the tenant's speakers in OTHER
    meetings that sound like that person (same embedder schema, score at least its calibrated
    threshold, at most one label per meeting). Proposals only: nothing is renamed until a person
    confirms. Sent again when the enrolment is applied again; applying it twice adds nothing."""

    kind: Literal["speaker_matches"] = "speaker_matches"
    tenant_id: UUID
    person_id: UUID
    meeting_id: UUID  # where the person was named
    label: str
    matches: list[ProposedSpeaker] = Field(default_factory=list)


# A job's own events, and everything the workers publish on the events queue.
JobEvent = JobProgress | JobCompleted | JobFailed
WorkerEvent = JobEvent | SpeakerMatches
Event = Annotated[WorkerEvent, Field(discriminator="kind")]
EVENT_ADAPTER: TypeAdapter[WorkerEvent] = TypeAdapter(Event)


class UnknownContractError(ValueError):
    """A message this version of the code cannot read; it is dead-lettered, never retried."""


def parse_job(body: bytes) -> ProcessMeetingJob:
    try:
        return ProcessMeetingJob.model_validate_json(body)
    except ValueError as exc:
        raise UnknownContractError(f"not a v{_V1} process_meeting job: {exc}") from exc


def parse_event(body: bytes) -> WorkerEvent:
    try:
        return EVENT_ADAPTER.validate_json(body)
    except ValueError as exc:
        raise UnknownContractError(
            f"not a v{_V1} job event nor a v{CONTRACT_VERSION} job_completed: {exc}"
        ) from exc


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


class ForgetSpeaker(_Message):
    """A meeting speaker's name was cleared: its voiceprint (and chunks) belong to nobody again,
    so a wrong name given to a voice stops naming others. The print itself stays."""

    kind: Literal["forget_speaker"] = "forget_speaker"
    tenant_id: UUID
    meeting_id: UUID
    label: str


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


VectorCommand = EnrollSpeaker | ForgetSpeaker | MergePersons | DeletePerson | DeleteMeetingVectors
VECTOR_COMMAND_ADAPTER: TypeAdapter[VectorCommand] = TypeAdapter(
    Annotated[VectorCommand, Field(discriminator="kind")]
)


def parse_search_request(body: bytes) -> SearchRequest:
    try:
        return SearchRequest.model_validate_json(body)
    except ValueError as exc:
        raise UnknownContractError(f"not a v{_V1} search request: {exc}") from exc


def parse_search_reply(body: bytes) -> SearchReply:
    try:
        return SearchReply.model_validate_json(body)
    except ValueError as exc:
        raise UnknownContractError(f"not a v{_V1} search reply: {exc}") from exc


def parse_vector_command(body: bytes) -> VectorCommand:
    try:
        return VECTOR_COMMAND_ADAPTER.validate_json(body)
    except ValueError as exc:
        raise UnknownContractError(f"not a v{_V1} vector command: {exc}") from exc
