"""`minuta serve`'s restart rule on a real SQLite database: unfinished meetings go out again."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlalchemy import select

from entrypoints.serve import requeue_unfinished
from services.api.db.engine import create_engine, create_sessionmaker
from services.api.db.migrate import upgrade_database_async
from services.api.db.models import Meeting, MeetingStatus, OutboxJob, Tenant, utcnow


async def _scenario(url: str) -> dict[str, bool]:
    await upgrade_database_async(url)
    engine = create_engine(url)
    sent = utcnow()
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            tenant = Tenant(name="t")
            session.add(tenant)
            await session.flush()
            for status in MeetingStatus:
                meeting = Meeting(
                    tenant_id=tenant.id,
                    status=status.value,
                    title=status.value,
                    audio_key=f"k/{status.value}",
                    audio_size=1,
                    audio_content_type="audio/wav",
                )
                session.add(meeting)
                await session.flush()
                session.add(
                    OutboxJob(
                        job_id=meeting.job_id,
                        meeting_id=meeting.id,
                        tenant_id=tenant.id,
                        sent_at=sent,
                    )
                )
        again = await requeue_unfinished(url)
        assert again == 2
        async with create_sessionmaker(engine)() as session:
            rows = (
                await session.execute(
                    select(Meeting.title, OutboxJob.sent_at).join(
                        OutboxJob, OutboxJob.meeting_id == Meeting.id
                    )
                )
            ).all()
        return {title: sent_at is None for title, sent_at in rows}
    finally:
        await engine.dispose()


def test_only_unfinished_meetings_are_queued_again(tmp_path: Path) -> None:
    pending = asyncio.run(_scenario(f"sqlite+aiosqlite:///{tmp_path / 'minuta.db'}"))
    assert pending == {"queued": True, "processing": True, "completed": False, "failed": False}
