"""The fault table's counts come from the database: a meeting that never completed is lost, a
completion applied twice is done twice (checked on a real app's SQLite database)."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from services.api.db.models import AppliedEvent, Meeting
from testkit.processes import Stack
from tests.faults.verdicts import jobs_done_twice, jobs_lost
from tests.services.api.conftest import make_settings, open_stack
from tests.services.api.helpers import completed, write_noise_wav

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_lost_and_done_twice_are_counted_not_assumed(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    settings = make_settings("sqlite-local", request, tmp_path)
    wav = write_noise_wav(tmp_path / "noise.wav", 50_000)
    async with open_stack(settings) as stack:
        headers = await stack.tenant()
        ids = [(await stack.upload(headers, wav)).json()["id"] for _ in range(3)]
        async with stack.ctx.sessionmaker() as session:
            rows = [await session.get(Meeting, uuid.UUID(i)) for i in ids]
        done, twice, _never = rows
        assert done is not None and twice is not None
        await stack.broker.deliver(completed(done))
        await stack.broker.deliver(completed(twice))
        # What a double application would leave: a second applied_events row for its job.
        async with stack.ctx.sessionmaker() as session, session.begin():
            session.add(
                AppliedEvent(key=f"again-{twice.job_id}", meeting_id=twice.id, kind="job_completed")
            )
    reader = Stack(tmp_path)
    assert jobs_lost(reader, ids) == 1  # the one never completed
    assert jobs_lost(reader, ids[:2]) == 0
    assert jobs_done_twice(reader, ids[:1]) == 0
    assert jobs_done_twice(reader, ids[:2]) == 1
