"""Retention: the tenant's policy (API and CLI), and the sweep that deletes recordings or whole
meetings past the period, on PostgreSQL + SeaweedFS S3 (and SQLite + a folder where cheap)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from core.contracts import DeleteMeetingVectors
from entrypoints.api import app as cli_app
from services.api.db.models import (
    AppliedEvent,
    Meeting,
    MeetingSpeaker,
    OutboxJob,
    OutboxVectorCommand,
    Tenant,
    utcnow,
)
from services.api.retention import RetentionSweeper, SweepReport, sweep_once
from tests.services.api.conftest import ApiStack
from tests.services.api.helpers import completed, progress, sample_result

pytestmark = pytest.mark.anyio

POLICY = "/v1/tenant/retention"
OFF = {"days": None, "scope": "recording"}


async def _meeting(
    stack: ApiStack, headers: dict[str, str], audio_dir: Path, *, age_days: float, done: bool = True
) -> Meeting:
    """An uploaded meeting (completed unless `done` is False) made `age_days` old."""
    response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac", title="Planning")
    assert response.status_code == 202, response.text
    meeting_id = uuid.UUID(response.json()["id"])
    async with stack.ctx.sessionmaker() as session, session.begin():
        await session.execute(
            update(Meeting)
            .where(Meeting.id == meeting_id)
            .values(created_at=utcnow() - timedelta(days=age_days))
        )
    async with stack.ctx.sessionmaker() as session:
        meeting = await session.get(Meeting, meeting_id)
        assert meeting is not None
    if done:
        await stack.broker.deliver(completed(meeting, sample_result()))
    return meeting


async def _put(stack: ApiStack, headers: dict[str, str], days: int | None, scope: str) -> None:
    answer = await stack.client.put(POLICY, headers=headers, json={"days": days, "scope": scope})
    assert answer.status_code == 200, answer.text


async def _sweep(stack: ApiStack, batch_size: int = 100) -> SweepReport:
    return await sweep_once(stack.ctx.sessionmaker, stack.ctx.storage, batch_size=batch_size)


MEETING_COLUMNS: dict[str, Any] = {
    "meetings": Meeting.id,
    "meeting_speakers": MeetingSpeaker.meeting_id,
    "outbox": OutboxJob.meeting_id,
    "applied_events": AppliedEvent.meeting_id,
}


async def _count(stack: ApiStack, table: str, meeting_id: uuid.UUID) -> int:
    """Rows of `table` that belong to the meeting."""
    column = MEETING_COLUMNS[table]
    async with stack.ctx.sessionmaker() as session:
        found = await session.scalar(select(func.count()).where(column == meeting_id))
        return int(found or 0)


async def test_policy_is_read_and_set_per_tenant(stack: ApiStack) -> None:
    a, b = await stack.tenant("a"), await stack.tenant("b")
    assert (await stack.client.get(POLICY, headers=a)).json() == OFF

    await _put(stack, a, 30, "everything")
    assert (await stack.client.get(POLICY, headers=a)).json() == {"days": 30, "scope": "everything"}
    # Another tenant's policy is its own.
    assert (await stack.client.get(POLICY, headers=b)).json() == OFF

    for bad in ({"days": 0}, {"days": -5}, {"days": 10, "scope": "audio"}, {"tenant": "b"}):
        answer = await stack.client.put(POLICY, headers=a, json=bad)
        assert answer.status_code == 422, bad
    assert (await stack.client.get(POLICY)).status_code == 401
    assert (await stack.client.put(POLICY, json={"days": 1})).status_code == 401

    await _put(stack, a, None, "recording")  # off
    assert (await stack.client.get(POLICY, headers=a)).json() == OFF


async def test_an_old_recording_is_deleted_and_its_minutes_kept(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    old = await _meeting(stack, headers, audio_dir, age_days=31)
    young = await _meeting(stack, headers, audio_dir, age_days=29)
    assert await _sweep(stack) == SweepReport()  # no policy yet: nothing happens
    await _put(stack, headers, 30, "recording")

    report = await _sweep(stack)
    assert report == SweepReport(tenants=1, recordings_deleted=1)
    assert await stack.stored_bytes(old.audio_key) is None
    assert await stack.stored_bytes(young.audio_key) is not None

    body = (await stack.client.get(f"/v1/meetings/{old.id}", headers=headers)).json()
    assert body["status"] == "completed" and body["result"]["segments"]
    assert body["audio"]["deleted_at"] is not None
    gone = await stack.client.get(f"/v1/meetings/{old.id}/audio", headers=headers)
    assert gone.status_code == 410 and "retention policy" in gone.json()["detail"]
    export = await stack.client.get(f"/v1/meetings/{old.id}/export", headers=headers)
    assert export.status_code == 200
    kept = (await stack.client.get(f"/v1/meetings/{young.id}", headers=headers)).json()
    assert kept["audio"]["deleted_at"] is None
    assert (await stack.client.get(f"/v1/meetings/{young.id}/audio", headers=headers)).is_success

    # Idempotent: a second sweep finds nothing to do; no vector is touched in this scope.
    assert await _sweep(stack) == SweepReport(tenants=1)
    await stack.ctx.relay.relay_once()
    assert stack.broker.commands == []


async def test_everything_scope_deletes_the_meeting_everywhere(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    old = await _meeting(stack, headers, audio_dir, age_days=8)
    young = await _meeting(stack, headers, audio_dir, age_days=1)
    named = await stack.client.patch(
        f"/v1/meetings/{old.id}/speakers/SPEAKER_00", headers=headers, json={"name": "Anna"}
    )
    assert named.status_code == 200, named.text
    assert await _count(stack, "meeting_speakers", old.id) == 1
    assert await _count(stack, "applied_events", old.id) == 1
    await stack.ctx.relay.relay_once()  # the enrolment command, sent before the policy
    stack.broker.commands.clear()
    await _put(stack, headers, 7, "everything")

    assert await _sweep(stack) == SweepReport(tenants=1, meetings_deleted=1)
    assert await stack.stored_bytes(old.audio_key) is None
    for table in MEETING_COLUMNS:
        assert await _count(stack, table, old.id) == 0, table
    assert (await stack.client.get(f"/v1/meetings/{old.id}", headers=headers)).status_code == 404
    await stack.ctx.relay.relay_once()
    assert stack.broker.commands == [
        DeleteMeetingVectors(
            tenant_id=old.tenant_id, meeting_id=old.id, sent_at=stack.broker.commands[0].sent_at
        )
    ]
    # The young one is untouched.
    assert await stack.stored_bytes(young.audio_key) is not None
    assert await _count(stack, "meetings", young.id) == 1

    # Idempotent: nothing more is deleted or sent.
    assert await _sweep(stack) == SweepReport(tenants=1)
    await stack.ctx.relay.relay_once()
    assert len(stack.broker.commands) == 1


async def test_a_crash_after_the_object_went_is_finished_by_the_next_sweep(
    stack: ApiStack, audio_dir: Path
) -> None:
    """The object deleted but the row not yet marked or removed (the process died in between):
    the next sweep finds the row, the missing object is fine, and the deletion completes."""
    headers = await stack.tenant()
    recording_only = await _meeting(stack, headers, audio_dir, age_days=3)
    await stack.ctx.storage.delete(recording_only.audio_key)
    await _put(stack, headers, 2, "recording")
    assert await _sweep(stack) == SweepReport(tenants=1, recordings_deleted=1)

    whole = await _meeting(stack, headers, audio_dir, age_days=3)
    await stack.ctx.storage.delete(whole.audio_key)
    await _put(stack, headers, 2, "everything")
    # Both go now: the one whose recording is already deleted too.
    assert await _sweep(stack) == SweepReport(tenants=1, meetings_deleted=2)
    assert await _count(stack, "meetings", whole.id) == 0
    assert await _count(stack, "meetings", recording_only.id) == 0


async def test_meetings_still_processing_are_skipped(stack: ApiStack, audio_dir: Path) -> None:
    headers = await stack.tenant()
    queued = await _meeting(stack, headers, audio_dir, age_days=10, done=False)
    processing = await _meeting(stack, headers, audio_dir, age_days=10, done=False)
    await stack.broker.deliver(progress(processing, "transcription", 0.5))
    await _put(stack, headers, 1, "everything")

    assert await _sweep(stack) == SweepReport(tenants=1, skipped_unfinished=2)
    for meeting in (queued, processing):
        assert await stack.stored_bytes(meeting.audio_key) is not None
        assert await _count(stack, "meetings", meeting.id) == 1
    # Once it completes, the next sweep deletes it.
    await stack.broker.deliver(completed(processing, sample_result()))
    assert await _sweep(stack) == SweepReport(tenants=1, meetings_deleted=1, skipped_unfinished=1)


async def test_a_policy_touches_only_its_own_tenant(stack: ApiStack, audio_dir: Path) -> None:
    a, b, c = await stack.tenant("a"), await stack.tenant("b"), await stack.tenant("c")
    mine = await _meeting(stack, a, audio_dir, age_days=5)
    theirs_b = await _meeting(stack, b, audio_dir, age_days=5)  # no policy
    theirs_c = await _meeting(stack, c, audio_dir, age_days=5)  # a longer one
    await _put(stack, a, 1, "everything")
    await _put(stack, c, 6, "everything")

    assert await _sweep(stack) == SweepReport(tenants=2, meetings_deleted=1)
    assert await _count(stack, "meetings", mine.id) == 0
    for other in (theirs_b, theirs_c):
        assert await _count(stack, "meetings", other.id) == 1
        assert await stack.stored_bytes(other.audio_key) is not None


@pytest.mark.parametrize("backend", ["postgres-s3"])
async def test_concurrent_sweeps_delete_each_recording_once(
    stack: ApiStack, audio_dir: Path
) -> None:
    """Several API processes sweep at once: row locks (SKIP LOCKED) give each meeting to one."""
    headers = await stack.tenant()
    meetings = [await _meeting(stack, headers, audio_dir, age_days=40) for _ in range(6)]
    await _put(stack, headers, 30, "recording")
    reports = await asyncio.gather(*(_sweep(stack, batch_size=1) for _ in range(3)))
    assert sum(r.recordings_deleted for r in reports) == 6
    for meeting in meetings:
        assert await stack.stored_bytes(meeting.audio_key) is None
    async with stack.ctx.sessionmaker() as session:
        marked = await session.scalar(
            select(func.count())
            .select_from(Meeting)
            .where(Meeting.recording_deleted_at.is_not(None))
        )
    assert marked == 6


async def test_the_background_sweep_runs_in_the_app(stack: ApiStack, audio_dir: Path) -> None:
    """The API's own task (as started in the lifespan) sweeps and wakes the outbox relay."""
    headers = await stack.tenant()
    old = await _meeting(stack, headers, audio_dir, age_days=3)
    await _put(stack, headers, 1, "everything")
    woken: list[bool] = []
    sweeper = RetentionSweeper(
        stack.ctx.sessionmaker,
        stack.ctx.storage,
        interval=0.05,
        batch_size=10,
        on_meetings_deleted=lambda: woken.append(True),
    )
    task = asyncio.create_task(sweeper.run())
    try:
        for _ in range(200):
            if sweeper.last_report is not None:
                break
            await asyncio.sleep(0.05)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert sweeper.last_report is not None
    assert await _count(stack, "meetings", old.id) == 0
    assert woken == [True]
    sent = await _pending_vector_commands(stack)
    assert sent == 1


async def _pending_vector_commands(stack: ApiStack) -> int:
    async with stack.ctx.sessionmaker() as session:
        found = await session.scalar(
            select(func.count())
            .select_from(OutboxVectorCommand)
            .where(OutboxVectorCommand.sent_at.is_(None))
        )
        return int(found or 0)


def test_cli_shows_and_sets_a_tenants_retention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MINUTA_DATABASE_URL", raising=False)
    env = {"MINUTA_DATA_DIR": str(tmp_path)}
    runner = CliRunner()
    assert runner.invoke(cli_app, ["tenants", "create", "acme"], env=env).exit_code == 0

    def run(*args: str) -> tuple[int, str]:
        done = runner.invoke(cli_app, ["tenants", "retention", "acme", *args], env=env)
        return done.exit_code, done.output

    assert run() == (0, "Retention: off (meetings are kept forever).\n")
    code, out = run("--days", "90")
    assert code == 0 and "recordings are deleted 90 days after upload" in out
    code, out = run("--days", "30", "--everything")
    assert code == 0 and "whole meetings are deleted 30 days" in out
    code, out = run()
    assert code == 0 and "whole meetings are deleted 30 days" in out
    assert _stored_policy(tmp_path) == (30, "everything")
    for bad in (["--off", "--days", "3"], ["--everything"], ["--days", "0"]):
        code, out = run(*bad)
        assert code != 0, bad
    assert runner.invoke(cli_app, ["tenants", "retention", "nobody"], env=env).exit_code == 1
    code, out = run("--off")
    assert code == 0 and "off" in out
    assert _stored_policy(tmp_path) == (None, "recording")


def _stored_policy(data_dir: Path) -> tuple[int | None, str]:
    from services.api.db.engine import create_engine, create_sessionmaker

    async def read() -> tuple[int | None, str]:
        engine = create_engine(f"sqlite+aiosqlite:///{data_dir / 'minuta.db'}")
        try:
            async with create_sessionmaker(engine)() as session:
                tenant = (await session.scalars(select(Tenant))).one()
                return tenant.retention_days, tenant.retention_scope
        finally:
            await engine.dispose()

    return asyncio.run(read())
