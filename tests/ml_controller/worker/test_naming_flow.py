"""Speakers named across meetings by voice, end to end on real audio: the `minuta serve` shape
(a real uvicorn API on SQLite, the in-process broker) with the real worker: real pipeline (no
LLM), real CPU diarization voiceprints, qdrant-client local mode.

dev00.wav and dev01.wav (AMI, 30 s each) share their two speakers. Meeting one's speakers are
named through the API after their reference identity (the reference speaker each label overlaps
most); meeting two must come back with names, each the right one, and only for that tenant.

The voiceprints are CAM++ ones (schema campplus-192-v1): they are stored, enrolled and looked up
in that schema's collection only.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

import httpx
import pytest

from core.contracts import ProcessMeetingJob
from core.messaging.memory import MemoryBroker, MemoryHub
from core.messaging.settings import BrokerSettings
from core.results import MeetingResult
from ml_controller.diarization.campplus import SCHEMA
from ml_controller.pipeline import MeetingPipeline
from ml_controller.settings import MLSettings
from ml_controller.types import PipelineOutput, Voiceprints
from ml_controller.vectors import VectorSettings, VectorStore
from services.api.db.engine import create_engine, create_sessionmaker
from services.api.tenants import create_tenant
from tests.ml_controller.worker.vector_worker import vector_worker
from tests.services.api.conftest import make_settings
from tests.services.api.test_end_to_end import _free_port, serve

pytestmark = pytest.mark.anyio

PAIR = "pyannote_debug"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def reference_turns(data_dir: Path, uri: str) -> list[tuple[float, float, str]]:
    rttm = data_dir / "audio" / PAIR / "debug.development.rttm"
    turns = []
    for line in rttm.read_text().splitlines():
        parts = line.split()
        if len(parts) > 7 and parts[1] == uri:
            start, duration = float(parts[3]), float(parts[4])
            turns.append((start, start + duration, parts[7]))
    return turns


def majority_reference(
    segments: list[dict[str, Any]], turns: list[tuple[float, float, str]]
) -> dict[str, str]:
    """Label -> the reference speaker it overlaps most (seconds of shared speech)."""
    overlap: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for segment in segments:
        for start, end, who in turns:
            shared = min(segment["end"], end) - max(segment["start"], start)
            if shared > 0:
                overlap[segment["speaker"]][who] += shared
    return {label: max(scores, key=lambda k: scores[k]) for label, scores in overlap.items()}


async def _process(client: httpx.AsyncClient, path: Path) -> dict[str, Any]:
    with path.open("rb") as handle:
        created = await client.post(
            "/v1/meetings", files={"file": (path.name, handle)}, data={"num_speakers": "2"}
        )
    assert created.status_code == 202, created.text
    meeting_id = created.json()["id"]
    deadline = time.monotonic() + 400
    while True:
        meeting: dict[str, Any] = (await client.get(f"/v1/meetings/{meeting_id}")).json()
        if meeting["status"] in ("completed", "failed"):
            assert meeting["status"] == "completed", meeting["error"]
            return meeting
        assert time.monotonic() < deadline, "the meeting was not processed in time"
        await asyncio.sleep(0.5)


async def test_a_named_voice_names_the_speaker_of_the_next_meeting(
    request: pytest.FixtureRequest, tmp_path: Path, data_dir: Path
) -> None:
    audio = data_dir / "audio" / PAIR
    port = _free_port()
    settings = make_settings("sqlite-local", request, tmp_path, port=port, public_base_url=None)
    hub = MemoryHub()
    broker_settings = BrokerSettings(broker_url=None)
    pipeline = MeetingPipeline(MLSettings(llm_engine="none"))
    store = await asyncio.to_thread(
        lambda: VectorStore.from_settings(
            VectorSettings(qdrant_in_memory=True, qdrant_url=None), embedder=pipeline.embedder
        )
    )
    worker = vector_worker(MemoryBroker(broker_settings, hub), tmp_path, pipeline, store)
    await worker.start()
    try:
        async with serve(settings, MemoryBroker(broker_settings, hub)) as base_url:
            engine = create_engine(settings.resolved_database_url)
            async with create_sessionmaker(engine)() as session, session.begin():
                tenant, issued = await create_tenant(session, "naming")
            await engine.dispose()
            headers = {"X-API-Key": issued.secret}
            async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
                first = await _process(client, audio / "dev00.wav")
                truth = majority_reference(
                    first["result"]["segments"], reference_turns(data_dir, "dev00")
                )
                assert truth and set(truth.values()) <= {"MEE009", "MEE012"}, truth
                assert all(s["name"] is None for s in first["result"]["speakers"])
                for label, who in truth.items():
                    named = await client.patch(
                        f"/v1/meetings/{first['id']}/speakers/{label}", json={"name": who}
                    )
                    assert named.status_code == 200, named.text
                deadline = time.monotonic() + 30
                tenant_id = str(tenant.id)
                while len(await asyncio.to_thread(store.enrolled_voices, tenant_id, SCHEMA)) < len(
                    truth
                ):
                    assert time.monotonic() < deadline, "the voices were not enrolled"
                    await asyncio.sleep(0.1)

                second = await _process(client, audio / "dev01.wav")
                expected = majority_reference(
                    second["result"]["segments"], reference_turns(data_dir, "dev01")
                )
                names = {s["id"]: s["name"] for s in second["result"]["speakers"]}
                recognised = {label: name for label, name in names.items() if name}
                assert recognised, (names, expected)
                for label, name in recognised.items():
                    assert name == expected[label], (names, expected)
                persons = (await client.get("/v1/persons")).json()["items"]
                by_name = {p["name"]: p for p in persons}
                for name in recognised.values():
                    assert by_name[name]["meetings"] == 2

            # The very voice enrolled, in another tenant's meeting: that tenant enrolled no one.
            enrolled = await asyncio.to_thread(store.enrolled_voices, str(tenant.id), SCHEMA)
            result = MeetingResult.model_validate(second["result"])
            # The published result carries no voiceprints: they come apart, as from the pipeline.
            voices = {s.id: enrolled[0].vector.tolist() for s in result.speakers}
            output = PipelineOutput(
                result=result, voiceprints=Voiceprints(embedding_schema=SCHEMA, vectors=voices)
            )
            job = ProcessMeetingJob(
                job_id=uuid.uuid4(),
                meeting_id=uuid.uuid4(),
                tenant_id=uuid.uuid4(),
                audio_url="http://127.0.0.1:9/unused",
            )
            assert worker.vectors is not None
            theirs = await asyncio.to_thread(worker.vectors.name_and_index, job, output)
            assert theirs.named == 0
            assert all(s.person_id is None for s in theirs.result.speakers)
            mine = await asyncio.to_thread(
                worker.vectors.name_and_index,
                job.model_copy(update={"tenant_id": tenant.id, "meeting_id": uuid.uuid4()}),
                output,
            )
            assert mine.named == 1
    finally:
        await worker.stop(drain_timeout=5)
        await worker.broker.close()
        store.close()
