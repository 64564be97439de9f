"""One way in for a recording: `POST /v1/meetings` (a tenant's upload) and a meeting bot's
`POST /v1/bots/{id}/recording` both store it here and get a queued meeting from it.

Two steps, since each caller has its own checks between them: `receive_recording` streams the
multipart file to storage (size-limited, sniffed, counted against the day's quota or not), and
`take_in` creates the meeting with its outbox row in one transaction, removes the stored file
when that fails, and wakes the relay.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from services.api import idempotency
from services.api.context import ApiContext
from services.api.db.models import Meeting, MeetingStatus, OutboxJob
from services.api.meetings import audio_key
from services.api.sniff import SNIFF_BYTES, sniff
from services.api.storage.base import StorageError
from services.api.upload import (
    MultipartReader,
    UploadError,
    UploadTooLargeError,
    peek,
    too_large,
)

log = logging.getLogger(__name__)

# Room for the form fields and multipart framing around the file itself.
FORM_OVERHEAD_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Recording:
    """A recording in the store, not yet a meeting's: `take_in` or `discard_recording` next."""

    tenant_id: uuid.UUID
    meeting_id: uuid.UUID
    key: str
    filename: str
    size: int
    content_type: str
    # The form's other fields as sent, those after the file included.
    fields: Mapping[str, str]


@dataclass(frozen=True)
class MeetingIntake:
    """The meeting to make of a stored recording."""

    recording: Recording
    title: str = ""
    language: str | None = None
    minutes_language: str | None = None
    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class TakenIn:
    meeting: Meeting
    # A concurrent upload with the same idempotency key won: `meeting` is its, ours is gone.
    replayed: bool = False


async def receive_recording(
    request: Request,
    ctx: ApiContext,
    tenant_id: uuid.UUID,
    *,
    quota_capped: bool,
    check_fields: Callable[[Mapping[str, str]], object] | None = None,
) -> Recording:
    """The request's multipart `file`, streamed to storage. With `quota_capped`, a recording
    larger than what is left of the tenant's daily bytes is refused (429) rather than cut at
    the size limit (413); `check_fields` sees the fields sent before the file, before anything
    is stored."""
    max_bytes = ctx.settings.max_upload_bytes
    room = await ctx.quotas.upload_room(tenant_id) if quota_capped else max_bytes
    limit = min(max_bytes, room)
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_OVERHEAD_BYTES:
        if room < max_bytes:
            raise await ctx.quotas.upload_refused(tenant_id, room)
        raise too_large(limit)
    reader = MultipartReader(
        request.stream(), request.headers.get("content-type", ""), max_file_bytes=limit
    )
    if await reader.next_file() is None:
        raise UploadError("The form has no 'file' field with the recording.")
    assert reader.file is not None
    if check_fields is not None:
        check_fields(reader.fields)  # fail before storing anything
    meeting_id = uuid.uuid4()
    key = audio_key(tenant_id, meeting_id)
    try:
        head, chunks = await peek(reader.file_chunks(), SNIFF_BYTES)
        sniffed = sniff(head)
        size = await ctx.storage.upload(key, chunks, content_type=sniffed.content_type)
    except UploadTooLargeError as error:
        if room < max_bytes:
            # Cut off by what is left of the day's quota, not by the size limit.
            raise await ctx.quotas.upload_refused(tenant_id, room) from error
        raise
    return Recording(
        tenant_id=tenant_id,
        meeting_id=meeting_id,
        key=key,
        filename=(reader.file.filename or "recording")[:255],
        size=size,
        content_type=sniffed.content_type,
        fields=dict(reader.fields),
    )


async def take_in(
    session: AsyncSession,
    ctx: ApiContext,
    intake: MeetingIntake,
    *,
    link: Callable[[Meeting], None] | None = None,
) -> TakenIn:
    """The queued meeting and its outbox row, committed together (the job runs even if the
    broker is down now); `link` changes other rows in the same transaction. On failure the
    stored recording is removed; a lost race of two uploads with one idempotency key answers
    with the winner's meeting. The bytes count against the tenant's day either way."""
    recording = intake.recording
    try:
        meeting = Meeting(
            id=recording.meeting_id,
            tenant_id=recording.tenant_id,
            job_id=uuid.uuid4(),
            status=MeetingStatus.queued.value,
            title=intake.title,
            language=intake.language,
            minutes_language=intake.minutes_language,
            num_speakers=intake.num_speakers,
            min_speakers=intake.min_speakers,
            max_speakers=intake.max_speakers,
            audio_key=recording.key,
            audio_filename=recording.filename,
            audio_size=recording.size,
            audio_content_type=recording.content_type,
            progress={},
            speaker_names={},
            idempotency_key=intake.idempotency_key,
        )
        session.add(meeting)
        await session.flush()  # the meeting row before the rows that point at it
        session.add(
            OutboxJob(job_id=meeting.job_id, meeting_id=meeting.id, tenant_id=recording.tenant_id)
        )
        if link is not None:
            link(meeting)
        await session.commit()
    except BaseException as error:
        await session.rollback()
        await discard_recording(ctx, recording.key)
        twin = await idempotency.concurrent_twin(
            session, recording.tenant_id, intake.idempotency_key, error
        )
        if twin is None:
            raise
        return TakenIn(twin, replayed=True)
    ctx.relay.wake()
    await ctx.quotas.record_upload(recording.tenant_id, recording.size)
    return TakenIn(meeting)


async def discard_recording(ctx: ApiContext, key: str) -> None:
    """Remove a stored recording no meeting will have; a failure is only logged."""
    try:
        await ctx.storage.delete(key)
    except StorageError:
        log.warning("could not remove the orphaned recording %s", key)
