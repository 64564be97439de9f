"""The API served by a real uvicorn on loopback, with a real broker and a stand-in worker.

No ML runs: the worker stand-in downloads the recording through the job's URL (it has no DB or
S3 credentials), reports progress and returns a hand-written result. The broker is the in-process
one with SQLite and the local folder (`minuta serve`), or RabbitMQ with PostgreSQL and S3.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest
import uvicorn

from core.contracts import JobCompleted, JobProgress, ProcessMeetingJob
from core.messaging.base import Broker
from core.results import MeetingResult
from services.api.app import create_app
from services.api.settings import ApiSettings
from testkit.rabbitmq import Harness
from tests.services.api.conftest import make_settings
from tests.services.api.helpers import sample_result

pytestmark = pytest.mark.anyio


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@asynccontextmanager
async def serve(settings: ApiSettings, broker: Broker) -> AsyncIterator[str]:
    app = create_app(settings, broker=broker)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 20)


class StandInWorker:
    def __init__(self, broker: Broker) -> None:
        self.broker = broker
        self.downloaded: list[bytes] = []

    async def handle(self, job: ProcessMeetingJob) -> None:
        # As the worker does: the job's link redirects to a short-lived presigned URL.
        async with httpx.AsyncClient(follow_redirects=True) as client:
            response = await client.get(job.audio_url)
            response.raise_for_status()
        self.downloaded.append(response.content)
        for stage, fraction in (("asr", 0.5), ("asr", 1.0), ("minutes", 1.0)):
            await self.broker.publish_event(
                JobProgress(
                    job_id=job.job_id,
                    meeting_id=job.meeting_id,
                    tenant_id=job.tenant_id,
                    stage=stage,
                    fraction=fraction,
                )
            )
            await asyncio.sleep(0.05)
        await self.broker.publish_event(
            JobCompleted(
                job_id=job.job_id,
                meeting_id=job.meeting_id,
                tenant_id=job.tenant_id,
                result=MeetingResult.model_validate(sample_result()),
            )
        )


@pytest.mark.parametrize(
    ("backend", "broker_kind"),
    [("sqlite-local", "memory"), ("postgres-s3", "amqp")],
    indirect=["backend"],
)
async def test_upload_to_completed_minutes_over_http(
    backend: str,
    broker_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    audio_dir: Path,
) -> None:
    port = _free_port()
    settings = make_settings(backend, request, tmp_path, port=port, public_base_url=None)
    harness = Harness(broker_kind)
    try:
        api_broker = await harness.broker()
        worker = StandInWorker(await harness.broker())
        await worker.broker.consume_jobs(worker.handle)
        async with serve(settings, api_broker) as base_url:
            from services.api.db.engine import create_engine, create_sessionmaker
            from services.api.tenants import create_tenant

            engine = create_engine(settings.resolved_database_url)
            async with create_sessionmaker(engine)() as session, session.begin():
                _, issued = await create_tenant(session, "e2e")
            await engine.dispose()
            headers = {"X-API-Key": issued.secret}

            async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
                flac = audio_dir / "asr_en" / "jfk.flac"
                with flac.open("rb") as handle:
                    created = await client.post(
                        "/v1/meetings", files={"file": ("jfk.flac", handle)}, data={"title": "E2E"}
                    )
                assert created.status_code == 202, created.text
                meeting_id = created.json()["id"]

                statuses: list[str] = []
                async with client.stream("GET", f"/v1/meetings/{meeting_id}/events") as stream:
                    async for line in stream.aiter_lines():
                        if line.startswith("data: "):
                            statuses.append(json.loads(line[6:])["status"])

                meeting = (await client.get(f"/v1/meetings/{meeting_id}")).json()
                assert meeting["status"] == "completed", meeting
                assert meeting["result"]["minutes"]["title"] == "Weekly release planning"
                assert meeting["progress"] == {"asr": 1.0, "minutes": 1.0}
                assert statuses[-1] == "completed" and set(statuses) <= {
                    "queued",
                    "processing",
                    "completed",
                }
                assert worker.downloaded == [flac.read_bytes()]
                srt = await client.get(f"/v1/meetings/{meeting_id}/export?format=srt")
                assert srt.status_code == 200 and srt.text.startswith("1\n00:00:00,000")
    finally:
        await harness.aclose()
