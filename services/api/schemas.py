"""Request and response bodies of the REST API (the OpenAPI schema is generated from these)."""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, Self
from uuid import UUID

from pydantic import (
    AfterValidator,
    AnyHttpUrl,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from core.contracts import SpeakerHints
from core.results import MeetingResult, Minutes
from services.api.db.models import MeetingStatus, RetentionScope

_LANGUAGE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})?$")


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_holds_nul(v) for v in value)
    return False


class TextBody(BaseModel):
    """A request body whose text may not hold NUL characters: PostgreSQL stores none (in text or
    jsonb; a 500 found by the fuzz test), no person types one, and SQLite must answer the same."""

    @model_validator(mode="after")
    def _no_nul(self) -> Self:
        if _holds_nul(self.model_dump()):
            raise ValueError("text must not contain NUL (\\u0000) characters")
        return self


class ErrorOut(BaseModel):
    detail: str = Field(description="What went wrong, for a person to read.")


def _check_language(value: str) -> str:
    if not _LANGUAGE.match(value):
        raise ValueError("expected a language code such as 'en', 'ru' or 'pt-BR'")
    return value


LanguageCode = Annotated[str, AfterValidator(_check_language)]


class MeetingUploadFields(SpeakerHints, TextBody):
    """The form fields of `POST /v1/meetings` besides the file."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str = Field(default="", max_length=500)
    language: LanguageCode | None = Field(
        default=None, description="Spoken language (ISO 639-1); unset means detect it."
    )
    minutes_language: LanguageCode | None = Field(
        default=None, description="Language to write the minutes in; unset means the spoken one."
    )

    @model_validator(mode="before")
    @classmethod
    def _blank_is_unset(cls, data: Any) -> Any:
        # HTML forms send empty strings for fields left empty.
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
        return data


class AudioOut(BaseModel):
    filename: str
    size: int = Field(description="Bytes stored.")
    content_type: str = Field(description="Sniffed from the content, not the client's claim.")
    deleted_at: datetime | None = Field(
        default=None,
        description="When the tenant's retention policy deleted the recording (null while it "
        "is kept); the transcript and minutes may remain.",
    )


class MeetingSummary(BaseModel):
    id: UUID
    status: MeetingStatus
    title: str
    language: str | None
    minutes_language: str | None
    speakers_hint: SpeakerHints
    audio: AudioOut
    progress: dict[str, float] = Field(description="Stage name -> fraction done (0..1).")
    error: str | None = Field(description="Why processing failed, when it did.")
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None


class MeetingOut(MeetingSummary):
    result: MeetingResult | None = Field(
        description="Once completed: the JSON of `minuta process --format json`, with the "
        "speaker names given through the API applied."
    )


class AudioLinkOut(BaseModel):
    url: str = Field(
        description="Where the recording can be fetched (and streamed with Range requests) "
        "without an API key, until it expires."
    )
    expires_in: int = Field(description="Seconds the URL stays valid.")
    content_type: str = Field(description="The recording's type, sniffed at upload.")


class MeetingPage(BaseModel):
    items: list[MeetingSummary]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next (older) page.")


class MeetingPatch(TextBody):
    model_config = ConfigDict(extra="forbid")

    title: str | None = Field(default=None, min_length=1, max_length=500)
    minutes: Minutes | None = Field(
        default=None, description="The edited minutes; replaces the minutes as a whole."
    )


class SpeakerRename(TextBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(
        max_length=200, description="The speaker's name; null or empty clears it."
    )


class SpeakerOut(BaseModel):
    id: str
    name: str | None
    person_id: UUID | None = Field(default=None, description="The person this name is.")
    named_by: str | None = Field(
        default=None,
        description='Who gave the name: "user", "voice", "platform" (the meeting platform\'s '
        'display name) or "proposal"; null when unnamed.',
    )


class VoiceprintsOut(BaseModel):
    current: int = Field(
        default=0, description="Voiceprints made by the current speaker embedder: compared."
    )
    stale: int = Field(
        default=0,
        description="Voiceprints of an older speaker embedder: kept, but never compared.",
    )


class PersonOut(BaseModel):
    id: UUID
    name: str
    created_at: datetime
    meetings: int = Field(description="Meetings in which the person is a named speaker.")
    voiceprints: VoiceprintsOut = Field(
        default_factory=VoiceprintsOut,
        description="The person's voiceprints (one per meeting they were named in) by embedder.",
    )
    recognisable: bool = Field(
        default=False,
        description="Later meetings can name them by voice. False with only stale voiceprints: "
        "name them once in a new meeting.",
    )


class ProposalOut(BaseModel):
    id: UUID
    person_id: UUID
    meeting_id: UUID
    meeting_title: str
    meeting_date: datetime = Field(description="When the meeting was uploaded.")
    label: str = Field(description="The proposed speaker of that meeting.")
    score: float = Field(description="Cosine similarity of the two voices.")
    start: float | None = Field(
        default=None, description="Seconds into the recording where the speaker first speaks."
    )
    state: str = Field(description='"open", "confirmed" or "rejected".')


class ProposalPage(BaseModel):
    items: list[ProposalOut]


class PersonPage(BaseModel):
    items: list[PersonOut]


class PersonRename(TextBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)


class PersonMerge(BaseModel):
    model_config = ConfigDict(extra="forbid")

    into: UUID = Field(description="The person who remains; this one is merged into it.")


class SearchHitOut(BaseModel):
    meeting_id: UUID
    start: float | None = Field(
        description="Seconds from the start of the recording (null for a minutes passage "
        "without a time)."
    )
    end: float | None
    speaker: str | None = Field(description="The speaker's name when known, else the label.")
    text: str
    score: float = Field(description="Higher is closer; comparable within one answer.")
    kind: str = Field(description="'transcript' or 'minutes'.")


class SearchOut(BaseModel):
    hits: list[SearchHitOut]


class MeetingEventOut(BaseModel):
    """One server-sent event: the meeting's state whenever it changes."""

    id: UUID
    status: MeetingStatus
    progress: dict[str, float]
    error: str | None


class ExportFormat(StrEnum):
    md = "md"
    json = "json"
    srt = "srt"
    vtt = "vtt"
    docx = "docx"


class WebhookEvent(StrEnum):
    meeting_completed = "meeting.completed"
    meeting_failed = "meeting.failed"


class WebhookCreate(TextBody):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl
    events: list[WebhookEvent] = Field(default_factory=lambda: list(WebhookEvent), min_length=1)
    description: str = Field(default="", max_length=500)


class WebhookOut(BaseModel):
    id: UUID
    url: str
    events: list[WebhookEvent]
    description: str
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(
        description="Signs every delivery (header Minuta-Signature). Shown only this once."
    )


class WebhookDeliveryOut(BaseModel):
    id: int
    delivery_id: UUID = Field(description="Shared by all attempts of one delivery.")
    event: WebhookEvent
    meeting_id: UUID | None
    attempt: int
    url: str
    status_code: int | None
    success: bool
    error: str | None
    duration_ms: float
    created_at: datetime


class HealthOut(BaseModel):
    status: Literal["ok"] = "ok"


class ReadinessOut(BaseModel):
    status: Literal["ready", "not ready"]
    checks: dict[str, str] = Field(description="Component -> 'ok' or what is wrong.")


# Retention (services/api/retention.py)


class RetentionPolicy(BaseModel):
    """A tenant's retention policy: how long meetings are kept, and what goes after that."""

    model_config = ConfigDict(extra="forbid")

    days: int | None = Field(
        default=None,
        # Strict: JSON `true` is not "1 day" (lax mode took it; found by the fuzz test).
        strict=True,
        ge=1,
        le=36500,
        description="Days after upload before the sweep deletes; null keeps meetings forever.",
    )
    scope: RetentionScope = Field(
        default=RetentionScope.recording,
        description="'recording': only the audio is deleted (transcript, minutes and search "
        "stay); 'everything': the whole meeting, as DELETE /v1/meetings/{id} does.",
    )
