"""Request and response bodies of `/v1/bots` (the bot's own protocol is services/bots/contracts)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from uuid import UUID

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from services.api.schemas import TextBody
from services.bots.contracts import ParticipantTimeline
from services.bots.meeting_urls import validate_meeting_url

MeetingUrl = Annotated[str, AfterValidator(validate_meeting_url)]


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("join_at needs a time zone, e.g. 2030-01-01T10:00:00Z")
    return value


class BotCreate(TextBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    meeting_url: MeetingUrl = Field(description="The meeting's http(s) link.")
    join_at: Annotated[datetime | None, AfterValidator(_aware)] = Field(
        default=None, description="When to join (with a time zone); unset means now."
    )
    bot_name: str = Field(
        default="Minuta notetaker", min_length=1, max_length=100, description="Display name."
    )
    max_duration: float = Field(
        default=3 * 3600,
        strict=True,  # JSON `true` is not 1 s
        gt=0,
        le=24 * 3600,
        description="Seconds of recording at most.",
    )
    title: str = Field(default="", max_length=500, description="Title of the meeting it makes.")


class BotOut(BaseModel):
    id: UUID
    state: str = Field(
        description="scheduled, launching, joining, waiting_room, recording, uploading, done "
        "or failed."
    )
    reason: str | None = Field(
        description="Why it failed: not_admitted, meeting_ended, platform_refused, unreachable, "
        "crashed, or cancelled (by its tenant, before it joined)."
    )
    expected_failure: bool = Field(
        description="The failure is the meeting's doing (not admitted, ended, refused) or a "
        "cancellation, not a fault of the system."
    )
    detail: str | None
    meeting_url: str
    bot_name: str
    title: str
    platform: str | None
    join_at: datetime
    max_duration: float
    leave_requested: bool
    meeting_id: UUID | None = Field(description="The meeting made from its recording.")
    timeline: ParticipantTimeline | None = Field(
        description="Who was in the meeting and who spoke when, as the bot saw it."
    )
    calendar_uid: str | None = Field(description="The calendar event it was made for.")
    created_at: datetime
    updated_at: datetime


class BotPage(BaseModel):
    items: list[BotOut]


class CalendarUrlImport(TextBody):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    ics_url: MeetingUrl = Field(description="An http(s) link to an iCalendar (ICS) file.")
    bot_name: str = Field(default="Minuta notetaker", min_length=1, max_length=100)
    max_duration: float = Field(default=3 * 3600, strict=True, gt=0, le=24 * 3600)


class CalendarSkipOut(BaseModel):
    uid: str
    summary: str
    why: str


class CalendarImportOut(BaseModel):
    created: list[BotOut] = Field(description="New bots, one per new event with a link.")
    updated: list[BotOut] = Field(description="Scheduled bots whose event moved or was cancelled.")
    unchanged: int = Field(description="Events that already have their bot.")
    skipped: list[CalendarSkipOut] = Field(description="Events that get no bot, and why.")
