"""The outbox relay: jobs written with their meeting are published, and only then marked sent.

Vector commands (a speaker named, persons merged or deleted, a meeting deleted) go the same way
from their own table, strictly in the order they were written: the first one the broker refuses
holds back the ones after it.

A broker outage leaves rows pending (retried with backoff), so jobs are delayed, never lost. A
crash between the broker's confirm and the commit re-publishes one job: the worker side is
idempotent by job id. Several API processes can relay at once: on PostgreSQL each row is taken
with FOR UPDATE SKIP LOCKED, one row per transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Generic, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.contracts import (
    VECTOR_COMMAND_ADAPTER,
    ProcessMeetingJob,
    SpeakerHints,
    VectorCommand,
)
from core.messaging.base import Broker, BrokerUnavailableError
from services.api.db.models import Meeting, OutboxJob, OutboxVectorCommand, utcnow
from services.api.job_links import JobLinks
from services.api.settings import ApiSettings
from services.api.storage.base import Storage

log = logging.getLogger(__name__)


class PendingRow(Protocol):
    """What the relay reads and writes of an outbox row, whichever table it is in.

    Properties, not plain attributes: the models' mapped columns are descriptors, which mypy
    matches against a property but not against an attribute of the value's type."""

    @property
    def attempts(self) -> int: ...
    @attempts.setter
    def attempts(self, value: int) -> None: ...
    @property
    def last_error(self) -> str | None: ...
    @last_error.setter
    def last_error(self, value: str | None) -> None: ...
    @property
    def next_attempt_at(self) -> datetime: ...
    @next_attempt_at.setter
    def next_attempt_at(self, value: datetime) -> None: ...
    @property
    def sent_at(self) -> datetime | None: ...
    @sent_at.setter
    def sent_at(self, value: datetime | None) -> None: ...


# The containers are unbounded: mypy checks a bound written in an annotation before it knows
# the models' columns, and then wrongly finds them no PendingRow. The loop checks the bound.
T = TypeVar("T")
RowT = TypeVar("RowT", bound=PendingRow)


@dataclass(frozen=True)
class Taken(Generic[T]):
    """A due row, locked in the relay's transaction, and how to publish it."""

    row: T
    # Builds and sends the message; raising keeps the row pending (inside the attempt, so a
    # row that cannot even be built backs off like a refused one).
    publish: Callable[[], Awaitable[None]]


@dataclass(frozen=True)
class OutboxLane(Generic[T]):
    """One outbox table: how to take its next due row, and what to call a row in the log."""

    what: str
    take: Callable[[AsyncSession], Awaitable[Taken[T] | None]]
    name: Callable[[T], object]


def add_vector_command(session: AsyncSession, command: VectorCommand) -> None:
    """Queue a vector command in the caller's transaction (published after its commit)."""
    session.add(
        OutboxVectorCommand(
            tenant_id=command.tenant_id,
            kind=command.kind,
            body=command.model_dump(mode="json"),
        )
    )


class OutboxRelay:
    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        broker: Broker,
        storage: Storage,
        settings: ApiSettings,
        links: JobLinks,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._broker = broker
        self._storage = storage
        self._settings = settings
        self._links = links
        self._wakeup = asyncio.Event()
        # None until the first publish; then whether the last publish was confirmed.
        self.broker_ok: bool | None = None
        self.last_error: str | None = None
        self._jobs = OutboxLane[OutboxJob]("job", self._take_job, lambda row: row.job_id)
        self._vector_commands = OutboxLane[OutboxVectorCommand](
            "vector command", self._take_vector_command, lambda row: row.id
        )

    def wake(self) -> None:
        """A new row was committed: publish now rather than at the next poll."""
        self._wakeup.set()

    def _retry_delay(self, attempts: int) -> timedelta:
        return timedelta(seconds=min(self._settings.outbox_retry_max_seconds, 0.5 * 2**attempts))

    async def _job(self, row: OutboxJob, meeting: Meeting) -> ProcessMeetingJob:
        # Signed now, not at upload: a row may wait out a long broker outage. The link is the
        # job's own; each fetch of it gets a presigned URL of minutes (job_links.py).
        url = self._links.url(row.job_id)
        return ProcessMeetingJob(
            job_id=row.job_id,
            meeting_id=meeting.id,
            tenant_id=meeting.tenant_id,
            audio_url=url,
            audio_filename=meeting.audio_filename,
            language=meeting.language,
            minutes_language=meeting.minutes_language,
            speakers=SpeakerHints(
                num_speakers=meeting.num_speakers,
                min_speakers=meeting.min_speakers,
                max_speakers=meeting.max_speakers,
            ),
            meeting_date=meeting.created_at,
        )

    async def _take_job(self, session: AsyncSession) -> Taken[OutboxJob] | None:
        now = utcnow()
        picked = (
            await session.execute(
                select(OutboxJob, Meeting)
                .join(Meeting, Meeting.id == OutboxJob.meeting_id)
                .where(OutboxJob.sent_at.is_(None), OutboxJob.next_attempt_at <= now)
                .order_by(OutboxJob.id)
                .limit(1)
                # SQLite has no row locks (and ignores this): its writers are serialised.
                .with_for_update(skip_locked=True, of=OutboxJob)
            )
        ).first()
        if picked is None:
            return None
        row, meeting = picked

        async def publish() -> None:
            await self._broker.publish_job(await self._job(row, meeting))

        return Taken(row, publish)

    async def _take_vector_command(
        self, session: AsyncSession
    ) -> Taken[OutboxVectorCommand] | None:
        row = (
            await session.scalars(
                select(OutboxVectorCommand)
                .where(OutboxVectorCommand.sent_at.is_(None))
                .order_by(OutboxVectorCommand.id)
                .limit(1)
                # Waits (no SKIP LOCKED) for another relay holding the head row: skipping
                # it would publish the next command before this one.
                .with_for_update()
            )
        ).first()
        # The head row not yet due holds back the rest: commands go out in their order.
        if row is None or row.next_attempt_at > utcnow():
            return None

        async def publish() -> None:
            command = VECTOR_COMMAND_ADAPTER.validate_python(row.body)
            await self._broker.publish_vector_command(command)

        return Taken(row, publish)

    async def _publish_next(self, lane: OutboxLane[RowT]) -> bool | None:
        """Publish the lane's next due row, one row per transaction. True: sent; False: the
        broker refused it (retried after a backoff); None: no due row."""
        async with self._sessionmaker() as session, session.begin():
            taken = await lane.take(session)
            if taken is None:
                return None
            row = taken.row
            row.attempts += 1
            try:
                await taken.publish()
            except Exception as exc:
                # Kept pending whatever went wrong; only a confirm marks a row sent.
                if not isinstance(exc, BrokerUnavailableError):
                    log.exception("publishing %s %s failed", lane.what, lane.name(row))
                row.last_error = f"{type(exc).__name__}: {exc}"
                row.next_attempt_at = utcnow() + self._retry_delay(row.attempts)
                self.broker_ok, self.last_error = False, row.last_error
                return False
            row.sent_at = utcnow()
            row.last_error = None
            self.broker_ok, self.last_error = True, None
            return True

    async def publish_one(self) -> bool | None:
        """Publish the oldest due job. True: sent; False: the broker refused it; None: no row."""
        return await self._publish_next(self._jobs)

    async def publish_vector_one(self) -> bool | None:
        """Publish the oldest unsent vector command once it is due; as `publish_one`."""
        return await self._publish_next(self._vector_commands)

    async def relay_once(self) -> int:
        """Publish every due row (jobs, then vector commands), stopping each kind at its first
        refusal; returns how many were sent."""
        sent = 0
        for publish in (self.publish_one, self.publish_vector_one):
            while await publish() is True:
                sent += 1
        return sent

    async def run(self) -> None:
        """Relay until cancelled (a background task of the API process)."""
        while True:
            try:
                await self.relay_once()
            except Exception:
                # The database may be briefly unavailable; the rows wait in it.
                log.exception("outbox relay round failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), self._settings.outbox_poll_seconds)
            self._wakeup.clear()
