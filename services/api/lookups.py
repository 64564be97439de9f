"""Rows the routes load by id: the tenant's row, or the 404 the API answers for it.

Another tenant's row is a 404 exactly like a missing one, so ids of other tenants reveal
nothing. Each helper raises the same 404 (status and message) its routes answered before.
"""

from __future__ import annotations

import uuid

from fastapi import HTTPException, status
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from services.api.db.models import Meeting, Person, Webhook
from services.api.meetings import get_meeting
from services.api.persons import get_person

MEETING_NOT_FOUND = "No meeting with this id."
PERSON_NOT_FOUND = "No person with this id."
WEBHOOK_NOT_FOUND = "No webhook with this id."
JOB_NOT_FOUND = "No such job."


def not_found(detail: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, detail)


async def meeting_of(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    meeting_id: uuid.UUID,
    *,
    for_update: bool = False,
) -> Meeting:
    """The tenant's meeting (locked with `for_update`, for writers)."""
    meeting = await get_meeting(session, tenant_id, meeting_id, for_update=for_update)
    if meeting is None:
        raise not_found(MEETING_NOT_FOUND)
    return meeting


async def person_of(
    session: AsyncSession,
    tenant_id: uuid.UUID,
    person_id: uuid.UUID,
    *,
    for_update: bool = False,
    detail: str = PERSON_NOT_FOUND,
) -> Person:
    """The tenant's person; `detail` names which id was not found when a route takes two."""
    person = await get_person(session, tenant_id, person_id, for_update=for_update)
    if person is None:
        raise not_found(detail)
    return person


async def webhook_of(session: AsyncSession, tenant_id: uuid.UUID, webhook_id: uuid.UUID) -> Webhook:
    """The tenant's webhook endpoint."""
    hook = (
        await session.scalars(
            select(Webhook).where(Webhook.id == webhook_id, Webhook.tenant_id == tenant_id)
        )
    ).first()
    if hook is None:
        raise not_found(WEBHOOK_NOT_FOUND)
    return hook


async def meeting_of_job(session: AsyncSession, job_id: uuid.UUID) -> Meeting:
    """The meeting a job processes. Not tenant-scoped: the caller holds the job's signed link,
    which only the API issues (job_links.py)."""
    meeting = await session.scalar(select(Meeting).where(Meeting.job_id == job_id))
    if meeting is None:
        raise not_found(JOB_NOT_FOUND)
    return meeting
