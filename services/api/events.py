"""Job events from the ML workers applied to meeting rows, idempotently.

The broker delivers at least once, and a job killed mid-way runs again elsewhere, so every event
may arrive twice, late or out of order. The rules: progress only grows and never touches a
finished meeting; a completion or a final failure is applied once (recorded in applied_events);
a completion is never undone by a late failure. Only the first terminal change fires webhooks.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import defaultdict
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.contracts import (
    DeleteMeetingVectors,
    JobCompleted,
    JobEvent,
    JobFailed,
    JobProgress,
    SpeakerMatches,
    WorkerEvent,
)
from core.results import MeetingResult, Speaker
from core.telemetry.logging import log_context
from services.api.db.models import (
    AppliedEvent,
    Meeting,
    MeetingSpeaker,
    MeetingStatus,
    SpeakerSource,
    utcnow,
)
from services.api.meetings import store_result
from services.api.metrics import record_job_failure
from services.api.outbox import add_vector_command
from services.api.persons import known_persons
from services.api.platform_naming import name_from_platform
from services.api.proposals import store_matches
from services.api.schemas import WebhookEvent

log = logging.getLogger(__name__)


class MeetingNotifier:
    """Wakes this process's event streams when one of its meetings changed."""

    def __init__(self) -> None:
        self._waiters: defaultdict[uuid.UUID, set[asyncio.Event]] = defaultdict(set)

    def notify(self, meeting_id: uuid.UUID) -> None:
        for waiter in self._waiters.get(meeting_id, ()):
            waiter.set()

    async def wait(self, meeting_id: uuid.UUID, timeout: float) -> bool:
        """True when notified, False on timeout (changes made by other processes are polled)."""
        waiter = asyncio.Event()
        self._waiters[meeting_id].add(waiter)
        try:
            await asyncio.wait_for(waiter.wait(), timeout)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters[meeting_id].discard(waiter)
            if not self._waiters[meeting_id]:
                del self._waiters[meeting_id]


class TerminalListener(Protocol):
    def fire(self, tenant_id: uuid.UUID, event: WebhookEvent, data: dict[str, Any]) -> None: ...


def webhook_data(meeting: Meeting) -> dict[str, Any]:
    # The result itself can be large; receivers fetch it with GET /v1/meetings/{id}.
    return {
        "meeting": {
            "id": str(meeting.id),
            "status": meeting.status,
            "title": meeting.title,
            "error": meeting.error,
            "completed_at": meeting.completed_at.isoformat() if meeting.completed_at else None,
        }
    }


class EventApplier:
    """`await applier(event)` is the broker's event handler (raising makes the broker retry)."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        notifier: MeetingNotifier | None = None,
        webhooks: TerminalListener | None = None,
        platform_naming: bool = True,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._notifier = notifier
        self._webhooks = webhooks
        self._platform_naming = platform_naming

    async def __call__(self, event: WorkerEvent) -> None:
        if isinstance(event, SpeakerMatches):
            with log_context(tenant_id=event.tenant_id, meeting_id=event.meeting_id):
                await self.apply_matches(event)
            return
        ids = {"job_id": event.job_id, "tenant_id": event.tenant_id, "meeting_id": event.meeting_id}
        with log_context(**ids):
            await self.apply(event)

    async def apply_matches(self, event: SpeakerMatches) -> int:
        """Store a named voice's matches in other meetings as open proposals; returns how many
        are new (0 for a duplicate delivery)."""
        try:
            async with self._sessionmaker() as session, session.begin():
                added = await store_matches(session, event)
        except IntegrityError:
            # Another process stored the same proposals just now.
            return 0
        log.info("person %s: %d new speaker proposals", event.person_id, added)
        return added

    async def apply(self, event: JobEvent) -> bool:
        """Apply one event; False when it changed nothing (duplicate, stale, unknown meeting)."""
        fired: tuple[WebhookEvent, dict[str, Any]] | None = None
        try:
            async with self._sessionmaker() as session, session.begin():
                meeting = (
                    await session.scalars(
                        select(Meeting)
                        .where(Meeting.id == event.meeting_id, Meeting.tenant_id == event.tenant_id)
                        .with_for_update()
                    )
                ).first()
                if meeting is None or meeting.job_id != event.job_id:
                    log.info("ignoring %s of job %s: no such meeting job", event.kind, event.job_id)
                    if meeting is None and isinstance(event, JobCompleted):
                        # Deleted while it was processed: the worker has just indexed it.
                        add_vector_command(
                            session,
                            DeleteMeetingVectors(
                                tenant_id=event.tenant_id, meeting_id=event.meeting_id
                            ),
                        )
                    return False
                if isinstance(event, JobProgress):
                    changed = _apply_progress(meeting, event)
                elif isinstance(event, JobCompleted):
                    changed = await _apply_completed(session, meeting, event)
                    if changed and self._platform_naming:
                        await name_from_platform(session, meeting, event.result)
                    if changed:
                        fired = (WebhookEvent.meeting_completed, webhook_data(meeting))
                else:
                    changed = _apply_failed(session, meeting, event)
                    if changed and meeting.status == MeetingStatus.failed:
                        fired = (WebhookEvent.meeting_failed, webhook_data(meeting))
                if not changed:
                    return False
        except IntegrityError:
            # applied_events already holds this terminal event: another process applied it.
            return False
        if isinstance(event, JobFailed) and fired is not None:
            record_job_failure(event.failure.value)  # once per meeting: applied exactly once
        if self._notifier is not None:
            self._notifier.notify(event.meeting_id)
        if fired is not None and self._webhooks is not None:
            self._webhooks.fire(event.tenant_id, *fired)
        return True


def _apply_progress(meeting: Meeting, event: JobProgress) -> bool:
    if MeetingStatus(meeting.status).terminal:
        return False
    progress = dict(meeting.progress or {})
    old = float(progress.get(event.stage, 0.0))
    # A stage's first event is news even at fraction 0: it says the stage has started.
    seen = event.stage in progress
    if seen and event.fraction <= old and meeting.status == MeetingStatus.processing:
        return False
    progress[event.stage] = max(old, event.fraction)
    meeting.progress = progress  # a new dict: JSON columns do not track in-place changes
    if meeting.status != MeetingStatus.processing:
        meeting.status = MeetingStatus.processing.value
        meeting.started_at = meeting.started_at or utcnow()
    return True


def _record(session: AsyncSession, meeting: Meeting, event: JobEvent) -> None:
    session.add(
        AppliedEvent(key=f"{event.job_id}:{event.kind}", meeting_id=meeting.id, kind=event.kind)
    )


def _person_id(value: str | None) -> uuid.UUID | None:
    """The speaker's person id as the worker sent it; None for none or a malformed one."""
    if value is None:
        return None
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


async def _recognised_speakers(
    session: AsyncSession, meeting: Meeting, result: MeetingResult
) -> MeetingResult:
    """Records the persons the worker recognised by voice (those still persons of the tenant)
    and returns the result to store (names are read from `persons`)."""
    claimed = {s.id: pid for s in result.speakers if (pid := _person_id(s.person_id)) is not None}
    known = await known_persons(session, meeting.tenant_id, claimed.values())
    speakers: list[Speaker] = []
    for speaker in result.speakers:
        person_id = claimed.get(speaker.id)
        if person_id is not None and person_id in known:
            session.add(
                MeetingSpeaker(
                    meeting_id=meeting.id,
                    label=speaker.id,
                    person_id=person_id,
                    source=SpeakerSource.voice.value,
                )
            )
            speakers.append(speaker)
        else:
            # A person deleted (or merged away) since the worker matched the voice.
            speakers.append(speaker.model_copy(update={"person_id": None}))
    return result.model_copy(update={"speakers": speakers})


async def _apply_completed(session: AsyncSession, meeting: Meeting, event: JobCompleted) -> bool:
    if meeting.status == MeetingStatus.completed:
        return False
    # Even after a final failure: a result that did arrive is worth more than the failure.
    _record(session, meeting, event)
    meeting.status = MeetingStatus.completed.value
    store_result(meeting, await _recognised_speakers(session, meeting, event.result))
    meeting.voiceprint_schema = event.result.speaker_embedding_schema
    meeting.progress = {stage: 1.0 for stage in (meeting.progress or {})}
    meeting.error = None
    meeting.failure_kind = None
    meeting.completed_at = utcnow()
    return True


def _apply_failed(session: AsyncSession, meeting: Meeting, event: JobFailed) -> bool:
    status = MeetingStatus(meeting.status)
    if status.terminal:
        return False
    if event.will_retry:
        note = f"Retrying after a transient error: {event.reason}"
        if meeting.error == note:
            return False
        meeting.error = note
        return True
    _record(session, meeting, event)
    meeting.status = MeetingStatus.failed.value
    meeting.error = event.reason
    meeting.failure_kind = event.failure.value
    meeting.completed_at = utcnow()
    return True
