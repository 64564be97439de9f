"""Deleting a meeting's data: the recording alone, or the whole meeting everywhere.

Shared by DELETE /v1/meetings/{id} and the retention sweep. Both are safe to repeat: the object
goes first and only then the row changes, in the caller's transaction; a crash in between leaves
a row that the next attempt finishes (a missing object is not an error).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from core.contracts import DeleteMeetingVectors
from services.api.db.models import AppliedEvent, Meeting
from services.api.outbox import add_vector_command
from services.api.storage.base import Storage


async def delete_recording(storage: Storage, meeting: Meeting, when: datetime) -> None:
    """Remove the audio object and mark the meeting; its transcript, minutes and vectors stay.

    Raises StorageError (the row then stays unmarked, to be retried)."""
    await storage.delete(meeting.audio_key)
    meeting.recording_deleted_at = when


async def delete_meeting_everywhere(
    session: AsyncSession, storage: Storage, meeting: Meeting
) -> None:
    """Remove the recording, the row (its speakers and outbox rows cascade), its applied-event
    keys, and queue a DeleteMeetingVectors command, all in the caller's transaction.

    The caller commits and then wakes the outbox relay. Raises StorageError before touching
    the database when the recording cannot be removed."""
    await storage.delete(meeting.audio_key)
    await session.delete(meeting)
    # No foreign key (events may name meetings that never existed); a late duplicate of a
    # terminal event finds no meeting and is dropped, so the keys are not needed any more.
    await session.execute(delete(AppliedEvent).where(AppliedEvent.meeting_id == meeting.id))
    add_vector_command(
        session, DeleteMeetingVectors(tenant_id=meeting.tenant_id, meeting_id=meeting.id)
    )
