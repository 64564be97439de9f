"""`/v1/meetings/{id}/audio`: a short-lived link to the recording, for players.

A browser's <audio> element cannot send an API key, so the caller asks (with the key) for a
presigned URL and hands that to the player. The link names one object and expires.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, status

from services.api.deps import ContextDep, MeetingDep
from services.api.schemas import AudioLinkOut, ErrorOut

router = APIRouter(prefix="/v1/meetings", tags=["meetings"])

# Long enough to listen through a long meeting; short enough that a leaked link soon dies.
AUDIO_LINK_TTL_SECONDS = 4 * 3600

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "Missing, invalid or revoked API key."},
    404: {"model": ErrorOut, "description": "No such meeting for this tenant."},
    410: {"model": ErrorOut, "description": "The retention policy deleted the recording."},
    503: {"model": ErrorOut, "description": "The recording store is unavailable."},
}


@router.get(
    "/{meeting_id}/audio",
    summary="A presigned, expiring URL of the meeting's recording (for audio players)",
    responses=_ERRORS,
)
async def audio_link(meeting: MeetingDep, ctx: ContextDep) -> AudioLinkOut:
    if meeting.recording_deleted_at is not None:
        raise HTTPException(
            status.HTTP_410_GONE,
            "The recording was deleted by the retention policy on "
            f"{meeting.recording_deleted_at.date().isoformat()}; the transcript and minutes "
            "are kept.",
        )
    url = await ctx.storage.presigned_get_url(meeting.audio_key, expires_in=AUDIO_LINK_TTL_SECONDS)
    return AudioLinkOut(
        url=url, expires_in=AUDIO_LINK_TTL_SECONDS, content_type=meeting.audio_content_type
    )
