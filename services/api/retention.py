"""The retention sweep: meetings older than their tenant's retention period lose their
recording (scope "recording") or are deleted everywhere (scope "everything").

Run by every API process as a background task (`MINUTA_RETENTION_SWEEP_SECONDS`). Several may
sweep at once: on PostgreSQL each batch of meetings is taken with FOR UPDATE SKIP LOCKED, so a
meeting is handled by one of them; SQLite has a single writer. A sweep is idempotent: the object
is deleted before the row is marked or removed, and a missing object is fine, so a crash between
the two is finished by the next sweep. Meetings still queued or processing are left alone.
Only ids and counts are logged.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.api.db.models import Meeting, MeetingStatus, RetentionScope, Tenant, utcnow
from services.api.deletion import delete_meeting_everywhere, delete_recording
from services.api.schemas import RetentionPolicy
from services.api.storage.base import Storage, StorageError

log = logging.getLogger(__name__)

_TERMINAL = (MeetingStatus.completed.value, MeetingStatus.failed.value)


@dataclass(frozen=True)
class SweepReport:
    """What one sweep did, over every tenant with a retention period."""

    tenants: int = 0
    recordings_deleted: int = 0  # scope "recording": audio gone, meeting kept
    meetings_deleted: int = 0  # scope "everything": meeting gone everywhere
    skipped_unfinished: int = 0  # past the period but still queued or processing
    failed: int = 0  # the store refused a deletion; retried by the next sweep

    def __add__(self, other: SweepReport) -> SweepReport:
        return SweepReport(
            tenants=self.tenants + other.tenants,
            recordings_deleted=self.recordings_deleted + other.recordings_deleted,
            meetings_deleted=self.meetings_deleted + other.meetings_deleted,
            skipped_unfinished=self.skipped_unfinished + other.skipped_unfinished,
            failed=self.failed + other.failed,
        )


def policy_of(tenant: Tenant) -> RetentionPolicy:
    return RetentionPolicy(days=tenant.retention_days, scope=RetentionScope(tenant.retention_scope))


async def set_policy(session: AsyncSession, tenant_id: uuid.UUID, policy: RetentionPolicy) -> None:
    """Store a tenant's policy in the caller's transaction (the next sweep applies it)."""
    tenant = await session.get(Tenant, tenant_id, with_for_update=True)
    if tenant is None:
        raise LookupError(f"no tenant {tenant_id}")
    tenant.retention_days = policy.days
    tenant.retention_scope = policy.scope.value


@dataclass(frozen=True)
class _Policy:
    tenant_id: uuid.UUID
    days: int
    scope: RetentionScope


async def _policies(sessionmaker: async_sessionmaker[AsyncSession]) -> list[_Policy]:
    async with sessionmaker() as session:
        rows = await session.execute(
            select(Tenant.id, Tenant.retention_days, Tenant.retention_scope).where(
                Tenant.retention_days.is_not(None)
            )
        )
        return [_Policy(t, d, RetentionScope(s)) for t, d, s in rows if d is not None]


async def _count_unfinished(
    sessionmaker: async_sessionmaker[AsyncSession], tenant_id: uuid.UUID, cutoff: datetime
) -> int:
    async with sessionmaker() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(Meeting)
            .where(
                Meeting.tenant_id == tenant_id,
                Meeting.created_at < cutoff,
                Meeting.status.not_in(_TERMINAL),
            )
        )
        return int(found or 0)


async def _sweep_tenant(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: Storage,
    policy: _Policy,
    now: datetime,
    batch_size: int,
) -> SweepReport:
    cutoff = now - timedelta(days=policy.days)
    everything = policy.scope is RetentionScope.everything
    deleted = failed = 0
    while True:
        query = select(Meeting).where(
            Meeting.tenant_id == policy.tenant_id,
            Meeting.created_at < cutoff,
            Meeting.status.in_(_TERMINAL),
        )
        if not everything:
            query = query.where(Meeting.recording_deleted_at.is_(None))
        query = (
            query.order_by(Meeting.created_at, Meeting.id)
            .limit(batch_size)
            # Another API process sweeping skips these rows, as a DELETE request in progress
            # makes this sweep skip its row.
            .with_for_update(skip_locked=True)
        )
        done_in_batch = 0
        async with sessionmaker() as session, session.begin():
            batch = list(await session.scalars(query))
            for meeting in batch:
                try:
                    if everything:
                        await delete_meeting_everywhere(session, storage, meeting)
                    else:
                        await delete_recording(storage, meeting, now)
                except StorageError as exc:
                    # The store is likely down: commit what was done, try again next sweep.
                    log.warning(
                        "retention: tenant %s: cannot delete the recording of meeting %s (%s)",
                        policy.tenant_id,
                        meeting.id,
                        type(exc).__name__,
                    )
                    failed += 1
                    break
                done_in_batch += 1
        deleted += done_in_batch
        if failed or len(batch) < batch_size:
            break
    skipped = await _count_unfinished(sessionmaker, policy.tenant_id, cutoff)
    if deleted or failed or skipped:
        log.info(
            "retention: tenant %s (%d days, %s): %d deleted, %d unfinished skipped, %d failed",
            policy.tenant_id,
            policy.days,
            policy.scope.value,
            deleted,
            skipped,
            failed,
        )
    return SweepReport(
        tenants=1,
        recordings_deleted=0 if everything else deleted,
        meetings_deleted=deleted if everything else 0,
        skipped_unfinished=skipped,
        failed=failed,
    )


async def sweep_once(
    sessionmaker: async_sessionmaker[AsyncSession],
    storage: Storage,
    *,
    batch_size: int = 100,
    now: datetime | None = None,
) -> SweepReport:
    """Apply every tenant's retention policy once. `now` is for tests (default: the clock)."""
    now = now or utcnow()
    report = SweepReport()
    for policy in await _policies(sessionmaker):
        report += await _sweep_tenant(sessionmaker, storage, policy, now, batch_size)
    return report


class RetentionSweeper:
    """The background task: a sweep now, then one every `interval` seconds."""

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        storage: Storage,
        *,
        interval: float,
        batch_size: int,
        on_meetings_deleted: Callable[[], None] | None = None,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._storage = storage
        self._interval = interval
        self._batch_size = batch_size
        # Wakes the outbox relay, which publishes the vector deletions now, not at its next poll.
        self._on_meetings_deleted = on_meetings_deleted
        self.last_report: SweepReport | None = None

    async def run(self) -> None:
        while True:
            try:
                report = await sweep_once(
                    self._sessionmaker, self._storage, batch_size=self._batch_size
                )
                self.last_report = report
                if report.meetings_deleted and self._on_meetings_deleted is not None:
                    self._on_meetings_deleted()
            except Exception:
                # The database may be briefly unavailable; the next sweep catches up.
                log.exception("retention sweep failed")
            await asyncio.sleep(self._interval)
