"""`/v1/meetings`: upload, list, read, export, edit, delete, and live progress."""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterable, Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.sse import EventSourceResponse
from pydantic import ValidationError

from core.telemetry.logging import log_context
from services.api import idempotency
from services.api.db.models import Meeting, MeetingStatus, SpeakerSource
from services.api.deletion import delete_meeting_everywhere
from services.api.deps import (
    ContextDep,
    MeetingDep,
    SessionDep,
    StreamSlotDep,
    TenantDep,
)
from services.api.errors import MEETING_LIST_ERRORS, http_errors
from services.api.exports import export
from services.api.intake import MeetingIntake, discard_recording, receive_recording, take_in
from services.api.lookups import meeting_of
from services.api.meetings import (
    get_meeting,
    list_meetings,
    meeting_out,
    to_event,
    to_out,
    to_summary,
)
from services.api.persons import enroll_voice, find_or_create_person, forget_voice, set_speaker
from services.api.quotas import QUOTA_RESPONSE
from services.api.schemas import (
    ErrorOut,
    ExportFormat,
    MeetingEventOut,
    MeetingOut,
    MeetingPage,
    MeetingPatch,
    MeetingUploadFields,
    SpeakerOut,
    SpeakerRename,
)
from services.api.security.filenames import content_disposition
from services.api.sniff import SUPPORTED_DESCRIPTION

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/meetings", tags=["meetings"])

_AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked API key."},
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "No such meeting for this tenant."},
}


def _upload_body_schema() -> dict[str, Any]:
    fields = MeetingUploadFields.model_json_schema()
    return {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "string",
                            "format": "binary",
                            "description": f"The recording: {SUPPORTED_DESCRIPTION}. Its type "
                            "is read from its content.",
                        },
                        **fields["properties"],
                    },
                }
            }
        },
    }


def _fields_or_422(raw: Mapping[str, str]) -> MeetingUploadFields:
    try:
        return MeetingUploadFields.model_validate(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
        for error in errors:
            error["loc"] = ("body", *error["loc"])
        raise RequestValidationError(errors) from exc


def _not_completed(meeting: Meeting, what: str) -> HTTPException:
    if meeting.status == MeetingStatus.failed:
        detail = f"Processing this meeting failed ({meeting.error}); there is no {what}."
    else:
        detail = (
            f"The meeting is still being processed (status: {meeting.status}); "
            f"its {what} is available once it is completed."
        )
    return HTTPException(status.HTTP_409_CONFLICT, detail)


@router.post(
    "",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Upload a recording to be processed",
    openapi_extra={"requestBody": _upload_body_schema()},
    responses={
        400: {"model": ErrorOut, "description": "The form is malformed or has no file."},
        **_AUTH_ERRORS,
        413: {"model": ErrorOut, "description": "The recording exceeds the size limit."},
        415: {"model": ErrorOut, "description": "The file is not a recording we can read."},
        422: {
            "description": "A form field is invalid (e.g. min_speakers > max_speakers).",
            "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/HTTPValidationError"}}
            },
        },
        **QUOTA_RESPONSE,
        503: {"model": ErrorOut, "description": "The recording store is unavailable."},
    },
)
async def create_meeting(
    request: Request,
    response: Response,
    ctx: ContextDep,
    session: SessionDep,
    tenant: TenantDep,
    idempotency_key: Annotated[
        str | None,
        Header(
            alias=idempotency.HEADER,
            min_length=1,
            max_length=idempotency.MAX_LENGTH,
            pattern=r"^[\x21-\x7e]+$",
            description="Any unique string (a UUID): an upload sent again with the same key "
            "returns the meeting the first one created (header `Idempotent-Replayed: true`).",
        ),
    ] = None,
) -> MeetingOut:
    """The recording is streamed to storage as it arrives; the job is queued with the meeting
    (an outbox row in the same transaction), so it runs even if the broker is down right now."""
    tenant_id = tenant.id  # a rollback below expires the ORM object
    if idempotency_key is not None:
        earlier = await idempotency.find_by_key(session, tenant_id, idempotency_key)
        await session.commit()
        if earlier is not None:
            response.headers[idempotency.REPLAYED_HEADER] = "true"
            return to_out(earlier)
    recording = await receive_recording(
        request, ctx, tenant_id, quota_capped=True, check_fields=_fields_or_422
    )
    try:
        fields = _fields_or_422(recording.fields)
    except BaseException:
        await discard_recording(ctx, recording.key)
        raise
    intake = MeetingIntake(
        recording,
        title=fields.title,
        language=fields.language,
        minutes_language=fields.minutes_language,
        num_speakers=fields.num_speakers,
        min_speakers=fields.min_speakers,
        max_speakers=fields.max_speakers,
        idempotency_key=idempotency_key,
    )
    taken = await take_in(session, ctx, intake)
    if taken.replayed:
        response.headers[idempotency.REPLAYED_HEADER] = "true"
        return to_out(taken.meeting)
    meeting = taken.meeting
    with log_context(job_id=meeting.job_id, tenant_id=tenant_id, meeting_id=meeting.id):
        log.info("upload accepted: %d bytes of %s", recording.size, recording.content_type)
    return to_out(meeting)


@router.get(
    "",
    summary="List meetings, newest first",
    responses={
        400: {"model": ErrorOut, "description": "The cursor is not one this API issued."},
        **_AUTH_ERRORS,
    },
)
async def list_all(
    session: SessionDep,
    tenant: TenantDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(description="`next_cursor` of the previous page")] = None,
) -> MeetingPage:
    async with http_errors(MEETING_LIST_ERRORS):
        rows, next_cursor = await list_meetings(session, tenant.id, limit=limit, cursor=cursor)
    return MeetingPage(items=[to_summary(m) for m in rows], next_cursor=next_cursor)


@router.get(
    "/{meeting_id}",
    summary="A meeting: status, progress, error and (once completed) the result",
    responses={**_AUTH_ERRORS, **_NOT_FOUND},
)
async def read(meeting: MeetingDep, session: SessionDep) -> MeetingOut:
    return await meeting_out(session, meeting)


_EXPORT_CONTENT = {
    "text/markdown": {"schema": {"type": "string"}},
    "application/json": {"schema": {"type": "string"}},
    "application/x-subrip": {"schema": {"type": "string"}},
    "text/vtt": {"schema": {"type": "string"}},
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": {
        "schema": {"type": "string", "format": "binary"}
    },
}


@router.get(
    "/{meeting_id}/export",
    summary="Download the minutes and transcript as md, json, srt, vtt or docx",
    response_class=Response,
    responses={
        200: {"description": "The file (as an attachment).", "content": _EXPORT_CONTENT},
        **_AUTH_ERRORS,
        **_NOT_FOUND,
        409: {"model": ErrorOut, "description": "The meeting is not completed."},
    },
)
async def export_meeting(
    meeting: MeetingDep,
    session: SessionDep,
    fmt: Annotated[ExportFormat, Query(alias="format")] = ExportFormat.md,
) -> Response:
    result = (await meeting_out(session, meeting)).result
    if result is None:
        raise _not_completed(meeting, "export")
    exported = export(result, fmt, title=meeting.title, fallback=f"meeting-{meeting.id}")
    return Response(
        exported.content,
        media_type=exported.media_type,
        headers={
            "Content-Disposition": content_disposition(
                exported.filename, fallback=f"meeting-{meeting.id}"
            )
        },
    )


@router.patch(
    "/{meeting_id}",
    summary="Edit the title and/or the minutes",
    responses={
        **_AUTH_ERRORS,
        **_NOT_FOUND,
        409: {"model": ErrorOut, "description": "Minutes can only be edited once completed."},
    },
)
async def patch_meeting(
    meeting_id: uuid.UUID, patch: MeetingPatch, session: SessionDep, tenant: TenantDep
) -> MeetingOut:
    meeting = await meeting_of(session, tenant.id, meeting_id, for_update=True)
    if patch.title is not None:
        meeting.title = patch.title
    if patch.minutes is not None:
        if meeting.result is None:
            raise _not_completed(meeting, "minutes")
        meeting.result = {**meeting.result, "minutes": patch.minutes.model_dump(mode="json")}
    await session.commit()
    return await meeting_out(session, meeting)


@router.patch(
    "/{meeting_id}/speakers/{label}",
    summary="Name a speaker (or clear the name); the voice is enrolled for later meetings",
    responses={
        **_AUTH_ERRORS,
        404: {"model": ErrorOut, "description": "No such meeting, or no such speaker in it."},
        409: {"model": ErrorOut, "description": "Speakers are known once completed."},
    },
)
async def rename_speaker(
    meeting_id: uuid.UUID,
    label: str,
    rename: SpeakerRename,
    session: SessionDep,
    tenant: TenantDep,
    ctx: ContextDep,
) -> SpeakerOut:
    """A name is a person of the tenant (found by exact name, or created). The speaker's voice
    in this meeting is enrolled as that person's, so later meetings name them by voice."""
    meeting = await meeting_of(session, tenant.id, meeting_id, for_update=True)
    if meeting.result is None:
        raise _not_completed(meeting, "speaker list")
    labels = {str(s.get("id")) for s in meeting.result.get("speakers", [])}
    if label not in labels:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"This meeting has no speaker '{label}'; its speakers are "
            f"{', '.join(sorted(labels)) or 'none'}.",
        )
    person = await find_or_create_person(session, tenant.id, rename.name) if rename.name else None
    # Source "user" even for a cleared name: a name a person removed is never given back by the
    # platform in this meeting.
    await set_speaker(session, meeting.id, label, person.id if person else None, SpeakerSource.user)
    # Sent even when unchanged: both commands are idempotent, and a resend repairs a lost one.
    if person is not None:
        enroll_voice(session, tenant.id, meeting.id, label, person.id)
    else:
        # A cleared name un-enrolls the print, so a wrong name stops naming that voice elsewhere.
        forget_voice(session, tenant.id, meeting.id, label)
    await session.commit()
    ctx.relay.wake()
    return SpeakerOut(
        id=label,
        name=person.name if person else None,
        person_id=person.id if person else None,
        named_by=SpeakerSource.user.value if person else None,
    )


@router.delete(
    "/{meeting_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Delete the meeting, its recording and its search vectors",
    responses={
        **_AUTH_ERRORS,
        **_NOT_FOUND,
        503: {"model": ErrorOut, "description": "The recording store is unavailable; retry."},
    },
)
async def delete_meeting(
    meeting_id: uuid.UUID, ctx: ContextDep, session: SessionDep, tenant: TenantDep
) -> None:
    meeting = await meeting_of(session, tenant.id, meeting_id, for_update=True)
    # The recording first: if that fails the row stays, and the DELETE can be repeated. The
    # vectors are deleted by a durable command committed with the row's deletion.
    await delete_meeting_everywhere(session, ctx.storage, meeting)
    await session.commit()
    ctx.relay.wake()


@router.get(
    "/{meeting_id}/events",
    summary="Live status and progress as server-sent events, until completed or failed",
    response_class=EventSourceResponse,
    # Spelled out: with a `model`, FastAPI would document these as text/event-stream.
    responses={
        code: {
            "description": answer["description"],
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}},
        }
        for code, answer in {**_AUTH_ERRORS, **_NOT_FOUND}.items()
    }
    | QUOTA_RESPONSE,
)
async def meeting_events(
    meeting: MeetingDep, ctx: ContextDep, slot: StreamSlotDep
) -> AsyncIterable[MeetingEventOut]:
    """One event now, then one per change; the stream ends after a terminal status."""
    last: MeetingEventOut | None = None
    try:
        while True:
            async with ctx.sessionmaker() as session:
                current = await get_meeting(session, meeting.tenant_id, meeting.id)
            if current is None:
                return  # deleted meanwhile
            event = to_event(current)
            if event != last:
                yield event
                last = event
            if event.status.terminal:
                return
            await ctx.notifier.wait(meeting.id, ctx.settings.sse_poll_seconds)
    finally:
        slot.release()
