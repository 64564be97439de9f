"""The outbox relay: a broker outage delays jobs, never drops or duplicates them."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select, update

from core.contracts import ProcessMeetingJob
from services.api.db.models import OutboxJob, utcnow
from services.api.outbox import OutboxRelay
from tests.services.api.conftest import ApiStack, make_settings, open_stack
from tests.services.api.fakes import RecordingBrokerFake

pytestmark = pytest.mark.anyio


async def _outbox(stack: ApiStack) -> list[OutboxJob]:
    async with stack.ctx.sessionmaker() as session:
        return list(await session.scalars(select(OutboxJob).order_by(OutboxJob.id)))


async def _download(stack: ApiStack, job: ProcessMeetingJob) -> bytes:
    """What a worker does with the job's URL (no credentials of any kind): the job's own link
    on the API, redirected to a presigned URL of minutes."""
    assert job.audio_url.startswith(stack.settings.resolved_public_base_url)
    parts = urlsplit(job.audio_url)
    link = await stack.client.get(f"{parts.path}?{parts.query}")
    assert link.status_code == 307, link.text
    target = link.headers["location"]
    if stack.settings.uses_s3:
        async with httpx.AsyncClient() as client:
            response = await client.get(target)
    else:
        response = await stack.client.get(target)
    assert response.status_code == 200, response.text
    return response.content


async def test_broker_down_keeps_rows_pending_then_sends_each_once(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    flac = audio_dir / "asr_en" / "jfk.flac"
    stack.broker.available = False
    ids = [
        (await stack.upload(headers, flac, title=f"m{i}", language="en")).json()["id"]
        for i in range(3)
    ]
    relay = stack.ctx.relay

    assert await relay.relay_once() == 0
    rows = await _outbox(stack)
    assert [r.sent_at for r in rows] == [None, None, None]
    assert rows[0].attempts == 1 and "fake broker is down" in (rows[0].last_error or "")
    assert relay.broker_ok is False
    ready = (await stack.client.get("/readyz")).json()
    assert ready["status"] == "ready"  # uploads still work while the broker is away
    assert ready["checks"]["broker"].startswith("unreachable")

    stack.broker.available = True
    await asyncio.sleep(0.1)  # past the (test-sized) retry delay
    assert await relay.relay_once() == 3
    assert await relay.relay_once() == 0
    assert all(r.sent_at is not None for r in await _outbox(stack))

    published = stack.broker.published
    assert [str(j.meeting_id) for j in published] == ids  # each once, in upload order
    job = published[0]
    assert job.language == "en" and job.audio_filename == "jfk.flac"
    assert job.tenant_id == (await _outbox(stack))[0].tenant_id
    assert await _download(stack, job) == flac.read_bytes()


@pytest.mark.parametrize("backend", ["postgres-s3"], indirect=True)
async def test_relay_marks_a_row_sent_only_after_the_confirm(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")
    seen_pending: list[bool] = []
    original = stack.broker.publish_job

    async def slow_confirm(job: ProcessMeetingJob) -> None:
        # Before the broker confirmed, another reader still sees the row pending.
        async with stack.ctx.sessionmaker() as session:
            row = (await session.scalars(select(OutboxJob))).one()
            seen_pending.append(row.sent_at is None)
        await original(job)

    stack.broker.publish_job = slow_confirm  # type: ignore[method-assign]
    assert await stack.ctx.relay.relay_once() == 1
    assert seen_pending == [True]
    assert (await _outbox(stack))[0].sent_at is not None


@pytest.mark.parametrize("backend", ["postgres-s3"], indirect=True)
async def test_several_relays_publish_every_row_exactly_once(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    wav = audio_dir / "asr_en" / "LDC93S1.wav"
    for i in range(12):
        assert (await stack.upload(headers, wav, title=str(i))).status_code == 202

    class SlowBrokerFake(RecordingBrokerFake):
        async def publish_job(self, job: ProcessMeetingJob) -> None:
            await asyncio.sleep(0.02)  # confirms take time: relays overlap
            await super().publish_job(job)

    shared = SlowBrokerFake()
    relays = [
        OutboxRelay(
            stack.ctx.sessionmaker, shared, stack.ctx.storage, stack.settings, stack.ctx.job_links
        )
        for _ in range(4)
    ]
    sent = await asyncio.gather(*(relay.relay_once() for relay in relays))
    assert sum(sent) == 12
    assert sum(1 for n in sent if n) > 1  # the work really was shared
    ids = [job.job_id for job in shared.published]
    assert len(ids) == len(set(ids)) == 12


async def test_background_relay_delivers_once_the_broker_is_back(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, audio_dir: Path
) -> None:
    settings = make_settings(backend, request, tmp_path)
    broker = RecordingBrokerFake()
    broker.available = False
    async with open_stack(settings, broker=broker, background=True) as stack:
        headers = await stack.tenant()
        response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")
        assert response.status_code == 202
        await asyncio.sleep(0.5)
        assert broker.published == [] and broker.refused >= 1

        broker.available = True
        deadline = time.monotonic() + 10
        while not broker.published and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert [str(j.meeting_id) for j in broker.published] == [response.json()["id"]]
        # The event consumer connected as well once the broker was back.
        while broker.event_handler is None and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert broker.event_handler is not None


async def test_deleting_a_queued_meeting_drops_its_pending_job(
    stack: ApiStack, audio_dir: Path
) -> None:
    headers = await stack.tenant()
    stack.broker.available = False
    meeting_id = (await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")).json()["id"]
    await stack.ctx.relay.relay_once()
    response = await stack.client.delete(f"/v1/meetings/{meeting_id}", headers=headers)
    assert response.status_code == 204
    assert await _outbox(stack) == []
    stack.broker.available = True
    async with stack.ctx.sessionmaker() as session, session.begin():
        await session.execute(update(OutboxJob).values(next_attempt_at=utcnow()))
    await stack.ctx.relay.relay_once()
    assert stack.broker.published == []
    # Only the deletion of the meeting's vectors goes out (it has none yet: harmless).
    assert [c.kind for c in stack.broker.commands] == ["delete_meeting"]


@pytest.mark.parametrize("backend", ["postgres-s3"], indirect=True)
async def test_real_amqp_broker_unreachable_keeps_the_job(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, audio_dir: Path
) -> None:
    from core.messaging.amqp import AmqpBroker
    from core.messaging.settings import BrokerSettings

    settings = make_settings(backend, request, tmp_path)
    nowhere = AmqpBroker(
        BrokerSettings(
            broker_url="amqp://guest:guest@127.0.0.1:9/", broker_connect_timeout_seconds=1
        )
    )
    async with open_stack(settings, broker=nowhere, background=True) as stack:
        headers = await stack.tenant()
        response = await stack.upload(headers, audio_dir / "asr_en" / "jfk.flac")
        assert response.status_code == 202  # accepted while the broker is unreachable
        deadline = time.monotonic() + 10
        while not (rows := await _outbox(stack))[0].last_error and time.monotonic() < deadline:
            await asyncio.sleep(0.05)  # the background relay tries and fails
        assert len(rows) == 1 and rows[0].sent_at is None and rows[0].attempts >= 1
        assert "BrokerUnavailableError" in (rows[0].last_error or "")
