"""Meeting rows as the API shows them, and the queries every route scopes to one tenant."""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import SpeakerHints
from core.results import MeetingResult
from services.api.db.models import Meeting, MeetingStatus
from services.api.persons import SpeakerIdentity, speaker_identities
from services.api.schemas import AudioOut, MeetingEventOut, MeetingOut, MeetingSummary


def audio_key(tenant_id: uuid.UUID, meeting_id: uuid.UUID) -> str:
    return f"tenants/{tenant_id}/meetings/{meeting_id}/audio"


async def get_meeting(
    session: AsyncSession, tenant_id: uuid.UUID, meeting_id: uuid.UUID, *, for_update: bool = False
) -> Meeting | None:
    """The tenant's meeting; another tenant's is None, exactly like a missing one."""
    query = select(Meeting).where(Meeting.id == meeting_id, Meeting.tenant_id == tenant_id)
    if for_update:
        query = query.with_for_update()
    return (await session.scalars(query)).first()


def encode_cursor(meeting: Meeting) -> str:
    raw = f"{meeting.created_at.isoformat()}|{meeting.id}".encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, _, ident = raw.partition("|")
        return datetime.fromisoformat(created), uuid.UUID(ident)
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise ValueError("invalid cursor") from exc


async def list_meetings(
    session: AsyncSession, tenant_id: uuid.UUID, *, limit: int, cursor: str | None
) -> tuple[list[Meeting], str | None]:
    """Newest first; the cursor is the last row of the previous page (stable under inserts)."""
    query = select(Meeting).where(Meeting.tenant_id == tenant_id)
    if cursor:
        created, ident = decode_cursor(cursor)
        query = query.where(
            or_(
                Meeting.created_at < created,
                and_(Meeting.created_at == created, Meeting.id < ident),
            )
        )
    query = query.order_by(Meeting.created_at.desc(), Meeting.id.desc()).limit(limit + 1)
    rows = list(await session.scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (encode_cursor(rows[-1]) if more and rows else None)


Identities = dict[tuple[uuid.UUID, str], SpeakerIdentity]


def stored_result(meeting: Meeting) -> MeetingResult | None:
    """The meeting's result column (JSON in the database) as the model; None before one came."""
    if meeting.result is None:
        return None
    return MeetingResult.model_validate(meeting.result)


def store_result(meeting: Meeting, result: MeetingResult) -> None:
    # A new dict each time: JSON columns do not track in-place changes.
    meeting.result = result.model_dump(mode="json")


def result_with_names(
    meeting: Meeting, identities: Identities | None = None
) -> MeetingResult | None:
    """The stored result with who its speakers are: the persons they were named as or
    recognised as (`meeting_speakers`, names from `persons`), else older plain names."""
    result = stored_result(meeting)
    if result is None:
        return None
    names: dict[str, Any] = meeting.speaker_names or {}
    for speaker in result.speakers:
        identity = (identities or {}).get((meeting.id, speaker.id))
        if identity is not None:
            speaker.person_id = str(identity.person_id) if identity.person_id else None
            speaker.name = identity.name
            speaker.named_by = identity.named_by
        elif speaker.id in names:
            speaker.name = names[speaker.id] or None
    return result


async def meeting_out(session: AsyncSession, meeting: Meeting) -> MeetingOut:
    """`to_out` with the speakers' current names (reads `meeting_speakers` and `persons`)."""
    identities = await speaker_identities(session, [meeting.id]) if meeting.result else {}
    return to_out(meeting, identities)


def _summary_fields(meeting: Meeting) -> dict[str, Any]:
    return {
        "id": meeting.id,
        "status": MeetingStatus(meeting.status),
        "title": meeting.title,
        "language": meeting.language,
        "minutes_language": meeting.minutes_language,
        "speakers_hint": SpeakerHints(
            num_speakers=meeting.num_speakers,
            min_speakers=meeting.min_speakers,
            max_speakers=meeting.max_speakers,
        ),
        "audio": AudioOut(
            filename=meeting.audio_filename,
            size=meeting.audio_size,
            content_type=meeting.audio_content_type,
            deleted_at=meeting.recording_deleted_at,
        ),
        "progress": dict(meeting.progress or {}),
        "error": meeting.error,
        "created_at": meeting.created_at,
        "updated_at": meeting.updated_at,
        "completed_at": meeting.completed_at,
    }


def to_summary(meeting: Meeting) -> MeetingSummary:
    return MeetingSummary(**_summary_fields(meeting))


def to_out(meeting: Meeting, identities: Identities | None = None) -> MeetingOut:
    return MeetingOut(**_summary_fields(meeting), result=result_with_names(meeting, identities))


def to_event(meeting: Meeting) -> MeetingEventOut:
    return MeetingEventOut(
        id=meeting.id,
        status=MeetingStatus(meeting.status),
        progress=dict(meeting.progress or {}),
        error=meeting.error,
    )
