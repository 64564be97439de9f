"""Search and vector commands end to end: the API asks a worker over the real broker (RPC), the
worker searches a real Qdrant (qdrant-client local mode) with the real multilingual e5 model.

Meetings are indexed at the worker boundary (`MeetingVectors.name_and_index`, what a job does
after the pipeline) from hand-written transcripts, so no ASR runs here; naming from real audio
is tests/ml_controller/worker/test_naming_flow.py.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from core.contracts import SEARCH_RPC_QUEUE, ProcessMeetingJob
from core.results import MeetingResult
from ml_controller.text_embedding import TextEmbedder
from ml_controller.types import PipelineOutput, Voiceprints
from ml_controller.vectors import VectorSettings, VectorStore
from ml_controller.worker.runner import Worker
from ml_controller.worker.settings import WorkerSettings
from ml_controller.worker.vectors import MeetingVectors
from services.api.db.models import Meeting
from testkit.rabbitmq import Harness
from tests.services.api.conftest import ApiStack, make_settings, open_stack
from tests.services.api.helpers import completed, sample_result

pytestmark = pytest.mark.anyio

HIRING = [
    ("SPEAKER_00", "We need two more engineers for the data team before the summer."),
    ("SPEAKER_01", "I will schedule the interviews with the candidates next week."),
    ("SPEAKER_00", "Good. The job posting goes out on Wednesday."),
]


@pytest.fixture(scope="session")
def embedder() -> Iterator[TextEmbedder]:
    yield TextEmbedder.from_settings()


@dataclass
class SearchStack:
    api: ApiStack
    store: VectorStore
    vectors: MeetingVectors
    harness: Harness
    # Voiceprints do not matter for search; random unit vectors stand in for them.
    rng: np.random.Generator

    async def meeting(
        self, headers: dict[str, str], audio: Path, result: dict[str, Any]
    ) -> Meeting:
        """Upload a recording, index its result as the worker does, and complete it."""
        response = await self.api.upload(headers, audio)
        assert response.status_code == 202
        async with self.api.ctx.sessionmaker() as session:
            meeting = await session.get(Meeting, uuid.UUID(response.json()["id"]))
            assert meeting is not None
        parsed = MeetingResult.model_validate(result)
        voices = {
            s.id: (v / np.linalg.norm(v)).tolist()
            for s in parsed.speakers
            for v in [self.rng.normal(size=256)]
        }
        output = PipelineOutput(result=parsed, voiceprints=Voiceprints(vectors=voices))
        job = ProcessMeetingJob(
            job_id=meeting.job_id,
            meeting_id=meeting.id,
            tenant_id=meeting.tenant_id,
            audio_url="http://127.0.0.1:9/unused",
            meeting_date=meeting.created_at,
        )
        named = await asyncio.to_thread(self.vectors.name_and_index, job, output)
        applied = await self.api.ctx.applier.apply(
            completed(meeting, named.result.model_dump(mode="json"))
        )
        assert applied
        return meeting

    async def search(self, headers: dict[str, str], **params: Any) -> Any:
        response = await self.api.client.get("/v1/search", headers=headers, params=params)
        assert response.status_code == 200, response.text
        return response.json()["hits"]

    async def relay_and_wait(self, done: Callable[[], bool]) -> None:
        """Publish the outbox's vector commands and wait until the worker applied them."""
        await self.api.ctx.relay.relay_once()
        deadline = time.monotonic() + 20
        while not await asyncio.to_thread(done):
            assert time.monotonic() < deadline, "vector command not applied in time"
            await asyncio.sleep(0.05)


@asynccontextmanager
async def search_stack(
    backend: str,
    broker_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    embedder: TextEmbedder,
    *,
    with_worker: bool = True,
) -> AsyncIterator[SearchStack]:
    settings = make_settings(backend, request, tmp_path, search_timeout_seconds=3.0)
    harness = Harness(broker_kind)
    store = VectorStore.from_settings(
        VectorSettings(qdrant_in_memory=True, qdrant_url=None), embedder=embedder
    )
    vectors = MeetingVectors(store)
    try:
        api_broker = await harness.broker()
        if with_worker:
            worker_broker = await harness.broker()
            worker = Worker(
                worker_broker,
                WorkerSettings(
                    worker_state_dir=tmp_path / "state",
                    worker_preload_models=False,
                    worker_vectors=False,
                ),
                vectors=vectors,
            )
            # What Worker.start() serves besides jobs (no job runs here: no pipeline).
            await worker_broker.serve_rpc(SEARCH_RPC_QUEUE, worker.search)
            await worker_broker.consume_vector_commands(worker.apply_vector_command)
        async with open_stack(settings, broker=api_broker) as api:
            yield SearchStack(api, store, vectors, harness, np.random.default_rng(7))
    finally:
        await harness.aclose()
        store.close()


def _hiring_result() -> dict[str, Any]:
    result = sample_result()
    result["segments"] = [
        {"start": 8.0 * i, "end": 8.0 * i + 7.5, "speaker": who, "text": text, "words": []}
        for i, (who, text) in enumerate(HIRING)
    ]
    result["minutes"] = {"language": "en", "title": "Hiring"}
    return result


@pytest.mark.parametrize(
    ("backend", "broker_kind"),
    [("sqlite-local", "memory"), ("postgres-s3", "amqp")],
    indirect=["backend"],
)
async def test_search_over_rpc_names_filters_and_deletes(
    backend: str,
    broker_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    audio_dir: Path,
    embedder: TextEmbedder,
) -> None:
    async with search_stack(backend, broker_kind, request, tmp_path, embedder) as s:
        acme, other = await s.api.tenant("acme"), await s.api.tenant("other")
        flac = audio_dir / "asr_en" / "jfk.flac"
        release = await s.meeting(acme, flac, sample_result())
        hiring = await s.meeting(acme, flac, _hiring_result())
        budget = await s.meeting(other, flac, sample_result("result_ru.json"))

        # Russian questions find English passages, in the right meeting.
        hits = await s.search(acme, q="Кто напишет руководство по миграции?", limit=3)
        assert hits and hits[0]["meeting_id"] == str(release.id), hits
        assert "migration guide" in hits[0]["text"]
        hits = await s.search(acme, q="собеседования с кандидатами", limit=3)
        assert hits[0]["meeting_id"] == str(hiring.id), hits
        # Never another tenant's passages, whatever the query.
        for headers, mine in ((acme, {release.id, hiring.id}), (other, {budget.id})):
            hits = await s.search(headers, q="бюджет на следующий квартал", limit=20)
            assert hits and {uuid.UUID(h["meeting_id"]) for h in hits} <= mine
        only = await s.search(acme, q="release date", meeting_id=str(hiring.id))
        assert only and {h["meeting_id"] for h in only} == {str(hiring.id)}

        # A named speaker shows by name in hits, and can be searched for by name.
        named = await s.api.client.patch(
            f"/v1/meetings/{release.id}/speakers/SPEAKER_00", headers=acme, json={"name": "Anna"}
        )
        assert named.status_code == 200
        await s.relay_and_wait(lambda: len(s.store.enrolled_voices(str(release.tenant_id))) == 1)
        hits = await s.search(acme, q="release next Monday", limit=10)
        speakers = {h["speaker"] for h in hits if h["meeting_id"] == str(release.id)}
        assert "Anna" in speakers and "SPEAKER_00" not in speakers
        anna = await s.search(acme, q="release", speaker="Anna", limit=10)
        assert anna and all(
            h["speaker"] == "Anna" and h["meeting_id"] == str(release.id) for h in anna
        )
        labelled = await s.search(acme, q="interviews", speaker="SPEAKER_01", limit=10)
        # A label is per meeting: passages where that label spoke, in any meeting.
        assert labelled and any(h["speaker"] == "SPEAKER_01" for h in labelled)

        # Merging and deleting persons reach the voiceprints and passages too.
        tenant = str(release.tenant_id)
        boris = await s.api.client.patch(
            f"/v1/meetings/{hiring.id}/speakers/SPEAKER_01", headers=acme, json={"name": "Boris"}
        )
        boris_id, anna_id = boris.json()["person_id"], named.json()["person_id"]
        await s.relay_and_wait(lambda: len(s.store.enrolled_voices(tenant)) == 2)
        merged = await s.api.client.post(
            f"/v1/persons/{anna_id}/merge", headers=acme, json={"into": boris_id}
        )
        assert merged.status_code == 200
        await s.relay_and_wait(
            lambda: {v.person_id for v in s.store.enrolled_voices(tenant)} == {boris_id}
        )
        as_boris = await s.search(acme, q="release next Monday", speaker="Boris", limit=10)
        # Anna's passages are Boris's now.
        assert str(release.id) in {h["meeting_id"] for h in as_boris}
        assert as_boris and all(h["speaker"] == "Boris" for h in as_boris)
        gone = await s.api.client.delete(f"/v1/persons/{boris_id}", headers=acme)
        assert gone.status_code == 204
        await s.relay_and_wait(lambda: s.store.enrolled_voices(tenant) == [])
        hits = await s.search(acme, q="release next Monday", limit=10)
        assert "Boris" not in {h["speaker"] for h in hits}

        # Deleting a meeting deletes its points (through the durable command), nothing else.
        assert s.store.count_points(tenant, str(release.id))["chunks"] > 0
        deleted = await s.api.client.delete(f"/v1/meetings/{release.id}", headers=acme)
        assert deleted.status_code == 204
        await s.relay_and_wait(
            lambda: s.store.count_points(tenant, str(release.id)) == {"chunks": 0, "voiceprints": 0}
        )
        assert s.store.count_points(tenant, str(hiring.id))["chunks"] > 0
        assert s.store.count_points(str(budget.tenant_id))["chunks"] > 0
        hits = await s.search(acme, q="migration guide", limit=20)
        assert hits and all(h["meeting_id"] == str(hiring.id) for h in hits)


@pytest.mark.parametrize(
    ("backend", "broker_kind"),
    [("sqlite-local", "memory"), ("postgres-s3", "amqp")],
    indirect=["backend"],
)
async def test_search_with_no_worker_is_503(
    backend: str,
    broker_kind: str,
    request: pytest.FixtureRequest,
    tmp_path: Path,
    embedder: TextEmbedder,
) -> None:
    async with search_stack(
        backend, broker_kind, request, tmp_path, embedder, with_worker=False
    ) as s:
        headers = await s.api.tenant()
        began = time.monotonic()
        response = await s.api.client.get("/v1/search", headers=headers, params={"q": "budget"})
        assert response.status_code == 503
        assert "no ML worker answered" in response.json()["detail"]
        assert time.monotonic() - began < 10
        missing = await s.api.client.get("/v1/search", headers=headers)
        assert missing.status_code == 422
        anonymous = await s.api.client.get("/v1/search", params={"q": "budget"})
        assert anonymous.status_code == 401


async def test_a_busy_worker_times_out_as_503(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A worker that serves the queue but does not answer within the timeout."""
    settings = make_settings("sqlite-local", request, tmp_path, search_timeout_seconds=0.5)
    harness = Harness("amqp")
    try:
        worker_broker = await harness.broker()

        async def stuck(body: bytes) -> bytes:
            await asyncio.sleep(3)
            return b"{}"

        await worker_broker.serve_rpc(SEARCH_RPC_QUEUE, stuck)
        async with open_stack(settings, broker=await harness.broker()) as api:
            headers = await api.tenant()
            response = await api.client.get("/v1/search", headers=headers, params={"q": "x"})
            assert response.status_code == 503
            assert "within 0.5 s" in response.json()["detail"]
    finally:
        await harness.aclose()
