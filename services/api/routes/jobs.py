"""`GET /v1/jobs/{job_id}/audio`: a job's signed link (services/api/job_links.py), redirected to
a presigned URL of minutes while the job's meeting is queued or processing."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from fastapi.responses import RedirectResponse
from starlette.types import Receive, Scope, Send

from core.telemetry.logging import log_context
from services.api.db.models import Meeting, MeetingStatus
from services.api.deps import ContextDep, SessionDep
from services.api.job_links import JOB_AUDIO_ROUTE
from services.api.lookups import meeting_of_job
from services.api.schemas import ErrorOut

router = APIRouter(tags=["internal"])


class _JobRedirect(RedirectResponse):
    """Sent inside the job's log context, so the access log line of this request (written as
    the response starts) says which job, tenant and meeting it was, like every line about a job."""

    def __init__(self, url: str, meeting: Meeting) -> None:
        super().__init__(url, status_code=status.HTTP_307_TEMPORARY_REDIRECT)
        self._ids = {
            "job_id": meeting.job_id,
            "tenant_id": meeting.tenant_id,
            "meeting_id": meeting.id,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        with log_context(**self._ids):
            await super().__call__(scope, receive, send)


_LIVE = (MeetingStatus.queued.value, MeetingStatus.processing.value)


@router.get(
    JOB_AUDIO_ROUTE,
    summary="A job's recording (workers use this): redirected to a short-lived presigned URL",
    status_code=status.HTTP_307_TEMPORARY_REDIRECT,
    response_class=RedirectResponse,
    responses={
        307: {
            "description": "To a presigned URL of the recording, valid for minutes.",
            "headers": {
                "Location": {
                    "description": "The presigned URL.",
                    "schema": {"type": "string", "format": "uri"},
                }
            },
        },
        403: {"model": ErrorOut, "description": "The signature is wrong or the link expired."},
        404: {"model": ErrorOut, "description": "No such job."},
        410: {"model": ErrorOut, "description": "The job is over: its link is spent."},
    },
)
async def job_audio(
    job_id: uuid.UUID,
    ctx: ContextDep,
    session: SessionDep,
    expires: Annotated[int, Query()],
    signature: Annotated[str, Query()],
) -> RedirectResponse:
    if not ctx.job_links.verify(job_id, expires, signature):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "This link is invalid or has expired.")
    meeting = await meeting_of_job(session, job_id)
    await session.commit()
    if meeting.status not in _LIVE:
        raise HTTPException(status.HTTP_410_GONE, "This job is over; its link is spent.")
    url = await ctx.storage.presigned_get_url(
        meeting.audio_key, expires_in=ctx.settings.presign_ttl_seconds
    )
    return _JobRedirect(url, meeting)
