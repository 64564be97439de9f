"""Retroactive naming on the worker side: enrolling a named voice publishes the tenant's speakers
in other meetings that sound like that person, as a `speaker_matches` event.

Real CAM++ voiceprints of real AMI audio (reference turns, as tests/ml_controller/speakers do):
dev00 and dev01 share MEE009 and MEE012, so MEE009 named in dev00 must be proposed in both
halves of dev01 (two other meetings), each time as its MEE009 label and never as MEE012; trn09's
people are strangers; another tenant's copy of dev01 and a copy stored in another embedder's
schema are never compared.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from benchmarks.diarization_quality import EvalFile, debug_files
from core.contracts import EnrollSpeaker, SpeakerMatches, WorkerEvent
from core.messaging.memory import MemoryBroker, MemoryHub
from core.messaging.settings import BrokerSettings
from ml_controller.audio.decode import decode_audio
from ml_controller.diarization.campplus import SCHEMA, CamPlusEmbedder
from ml_controller.pipeline import MeetingPipeline
from ml_controller.settings import MLSettings
from ml_controller.speakers.naming import naming_for
from ml_controller.speakers.voiceprint import voiceprints_from_turns
from ml_controller.types import SpeakerTurn
from ml_controller.vectors import VectorSettings, VectorStore
from tests.ml_controller.worker.vector_worker import vector_worker

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _file(data_dir: Path, uri: str) -> EvalFile:
    split = "development" if uri.startswith("dev") else "train"
    return next(f for f in debug_files(split, data_dir) if f.uri == uri)


def _prints(
    data_dir: Path, embedder: CamPlusEmbedder, uri: str, start: float = 0.0, end: float = 1e9
) -> dict[str, list[float]]:
    """Reference speaker -> CAM++ voiceprint of their speech between start and end."""
    file = _file(data_dir, uri)
    turns = [
        SpeakerTurn(start=max(s.start, start), end=min(s.end, end), speaker=str(label))
        for s, _, label in file.reference.itertracks(yield_label=True)
        if s.end > start and s.start < end
    ]
    with decode_audio(file.wav) as audio:
        prints = voiceprints_from_turns(audio.samples, turns, embedder)
    return {who: np.asarray(v, dtype=np.float32).tolist() for who, v in prints.items()}


def _labelled(prints: dict[str, list[float]], labels: dict[str, str]) -> dict[str, list[float]]:
    """The prints under anonymous labels, as a meeting stores them (reference name -> label)."""
    return {labels[who]: vector for who, vector in prints.items()}


async def test_enrolling_a_voice_publishes_its_matches_in_the_tenants_other_meetings(
    tmp_path: Path, data_dir: Path, settings: MLSettings
) -> None:
    embedder = CamPlusEmbedder.from_cache(settings.cache_dir)
    store = VectorStore.from_settings(VectorSettings(qdrant_in_memory=True, qdrant_url=None))
    tenant, other_tenant = str(uuid.uuid4()), str(uuid.uuid4())
    named, first, second, strangers, old_model, theirs = (str(uuid.uuid4()) for _ in range(6))
    dev00 = _prints(data_dir, embedder, "dev00")
    store.add_voiceprints(
        tenant, named, _labelled(dev00, {"MEE009": "S1", "MEE012": "S2"}), {}, SCHEMA
    )
    first_half = _prints(data_dir, embedder, "dev01", 0.0, 15.0)
    store.add_voiceprints(
        tenant, first, _labelled(first_half, {"MEE012": "S1", "MEE009": "S2"}), {}, SCHEMA
    )
    second_half = _prints(data_dir, embedder, "dev01", 15.0, 40.0)
    store.add_voiceprints(
        tenant, second, _labelled(second_half, {"MEE009": "S1", "MEE012": "S2"}), {}, SCHEMA
    )
    trn09 = _prints(data_dir, embedder, "trn09")
    store.add_voiceprints(
        tenant, strangers, {f"S{i}": v for i, v in enumerate(trn09.values())}, {}, SCHEMA
    )
    # The same voice, but stored as another embedder's: another vector space, never compared.
    dev01 = _prints(data_dir, embedder, "dev01")
    store.add_voiceprints(tenant, old_model, {"S1": dev01["MEE009"]}, {}, "pyannote-v1")
    store.add_voiceprints(other_tenant, theirs, {"S1": dev01["MEE009"]}, {}, SCHEMA)

    hub = MemoryHub()
    broker_settings = BrokerSettings(broker_url=None)
    worker = vector_worker(
        MemoryBroker(broker_settings, hub),
        tmp_path,
        MeetingPipeline(MLSettings(llm_engine="none")),
        store,
    )
    api = MemoryBroker(broker_settings, hub)
    received: list[WorkerEvent] = []

    async def collect(event: WorkerEvent) -> None:
        received.append(event)

    await api.consume_events(collect)
    person = uuid.uuid4()
    command = EnrollSpeaker(
        tenant_id=uuid.UUID(tenant), meeting_id=uuid.UUID(named), label="S1", person_id=person
    )
    try:
        await worker.apply_vector_command(command)
        await worker.apply_vector_command(command)  # a redelivery: the same matches again
        deadline = time.monotonic() + 10
        while len(received) < 2:
            assert time.monotonic() < deadline, "no speaker_matches published"
            await asyncio.sleep(0.05)
        # The enrolment itself happened: the print is the person's now.
        enrolled = store.enrolled_voices(tenant, SCHEMA)
        assert {v.person_id for v in enrolled} == {str(person)}
    finally:
        await api.close()
        await worker.broker.close()
        store.close()

    first_event, again = received
    assert isinstance(first_event, SpeakerMatches) and isinstance(again, SpeakerMatches)
    # The same speakers; the scores of a second search may differ in float32 rounding only.
    assert [(m.meeting_id, m.label) for m in again.matches] == [
        (m.meeting_id, m.label) for m in first_event.matches
    ]
    assert [m.score for m in again.matches] == pytest.approx(
        [m.score for m in first_event.matches], abs=1e-6
    )
    assert (first_event.tenant_id, first_event.person_id) == (uuid.UUID(tenant), person)
    assert (first_event.meeting_id, first_event.label) == (uuid.UUID(named), "S1")
    found = {(str(m.meeting_id), m.label) for m in first_event.matches}
    # MEE009 in both halves of dev01, under their own labels; nothing else.
    assert found == {(first, "S2"), (second, "S1")}, first_event.matches
    threshold = naming_for(SCHEMA).threshold
    assert all(m.score >= threshold for m in first_event.matches)
    assert [m.score for m in first_event.matches] == sorted(
        (m.score for m in first_event.matches), reverse=True
    )
