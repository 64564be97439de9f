"""The mock Qdrant server (tests/services/qdrant_mock_server.py) under the real client backend.

No Qdrant server runs here, so these tests are `mock` by name: the vector store's own checks
(tests/ml_controller/vectors) run again through `QdrantClient(url=...)` and the mock's REST
layer, with real e5 vectors of real meeting text; then a stopped server must fail the worker's
vector step as a transient error, and a started one must answer again with its earlier points.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

import tests.ml_controller.vectors.test_store as store_checks
import tests.ml_controller.vectors.test_voiceprints as voiceprint_checks
from core.contracts import FailureKind, ProcessMeetingJob
from ml_controller.settings import MLSettings
from ml_controller.text_embedding import TextEmbedder
from ml_controller.types import PipelineOutput, Voiceprints
from ml_controller.vectors.models import SearchQuery
from ml_controller.vectors.schema import CHUNK_INDEXES, SCHEMA_VERSION, VOICE_INDEXES, read_version
from ml_controller.vectors.settings import VectorSettings
from ml_controller.vectors.store import VectorStore
from ml_controller.worker.failures import classify
from ml_controller.worker.vectors import MeetingVectors, VectorStepError
from tests.ml_controller.vectors.conftest import meeting_result, qmsum_meeting
from tests.services.qdrant_mock_server import MockQdrant, mock_qdrant_server

DIM = 256  # the CPU diarizer's voiceprints


class CachedEmbedder(TextEmbedder):
    """The real e5 model, embedding each text once: the reused checks index the same meetings
    again and again, and the model (not the server) would be nearly all of their time."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._seen: dict[str, np.ndarray] = {}

    def embed_texts(self, texts: Sequence[str], prefix: str = "") -> np.ndarray:
        if len(texts) == 0:
            return super().embed_texts(texts, prefix)
        keys = [prefix + t for t in texts]
        new = [k for k in dict.fromkeys(keys) if k not in self._seen]
        if new:
            self._seen.update(zip(new, super().embed_texts(new), strict=True))
        return np.stack([self._seen[k] for k in keys])


@pytest.fixture(scope="module")
def embedder(settings: MLSettings) -> TextEmbedder:
    return CachedEmbedder.from_settings(settings)


@pytest.fixture(scope="module")
def qdrant(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MockQdrant]:
    """One server for the module's tests; each test uses collections of its own prefix."""
    with mock_qdrant_server(tmp_path_factory.mktemp("qdrant-mock")) as server:
        yield server


def server_store(url: str, embedder: TextEmbedder, prefix: str | None = None) -> VectorStore:
    settings = VectorSettings(
        qdrant_url=url,
        qdrant_timeout=10,
        qdrant_collection_prefix=prefix or f"t{uuid.uuid4().hex[:8]}_",
    )
    store = VectorStore.from_settings(settings, embedder=embedder)
    store.ensure_schema()
    return store


@pytest.fixture
def store(qdrant: MockQdrant, embedder: TextEmbedder) -> Iterator[VectorStore]:
    vector_store = server_store(qdrant.url, embedder)
    yield vector_store
    vector_store.close()


def unit_voice(seed: int) -> list[float]:
    v = np.random.default_rng(seed).normal(size=DIM)
    return (v / np.linalg.norm(v)).tolist()


def job_for(tenant: uuid.UUID, meeting: uuid.UUID) -> ProcessMeetingJob:
    return ProcessMeetingJob(
        job_id=uuid.uuid4(),
        meeting_id=meeting,
        tenant_id=tenant,
        audio_url="http://127.0.0.1:9/unused",
    )


def voiced_result(data_dir: Path, voices: dict[str, list[float]]) -> PipelineOutput:
    """A real meeting's text whose speakers have the given voiceprints (legacy schema)."""
    turns = qmsum_meeting(data_dir, "ES2006a", 12)
    labels = list(voices)
    turns = [{**t, "speaker": labels[i % len(labels)]} for i, t in enumerate(turns)]
    return PipelineOutput(result=meeting_result(turns), voiceprints=Voiceprints(vectors=voices))


def test_mock_schema_is_created_with_its_payload_indexes(store: VectorStore) -> None:
    assert read_version(store.backend, store.names) == SCHEMA_VERSION
    store.add_voiceprints("acme", "m1", {"S1": unit_voice(1)}, {})
    # The server path reads indexes back (local mode cannot): the mock keeps what was created.
    assert store.backend.indexed_fields(store.names.chunks) == set(CHUNK_INDEXES)
    assert store.backend.indexed_fields(store.names.voiceprints) == set(VOICE_INDEXES)


def test_mock_search_filters_tenants_and_dates(store: VectorStore, data_dir: Path) -> None:
    store_checks.test_tenant_isolation_and_filters(store, data_dir)


def test_mock_reindexing_and_meeting_deletion(
    qdrant: MockQdrant, embedder: TextEmbedder, data_dir: Path
) -> None:
    for check in (
        store_checks.test_reindexing_is_idempotent_and_drops_leftovers,
        store_checks.test_delete_meeting_removes_chunks_and_voiceprints,
    ):
        fresh = server_store(qdrant.url, embedder)
        try:
            check(fresh, data_dir)
        finally:
            fresh.close()


def test_mock_voiceprints_enroll_merge_delete(qdrant: MockQdrant, embedder: TextEmbedder) -> None:
    for check in (
        voiceprint_checks.test_enroll_merge_and_delete_person,
        voiceprint_checks.test_rerun_of_a_meeting_replaces_its_voiceprints,
        voiceprint_checks.test_enrolling_names_the_speakers_chunks,
    ):
        fresh = server_store(qdrant.url, embedder)
        try:
            check(fresh)
        finally:
            fresh.close()


def test_mock_worker_names_a_known_voice_in_a_new_meeting(
    store: VectorStore, data_dir: Path
) -> None:
    vectors = MeetingVectors(store)
    acme, globex = uuid.uuid4(), uuid.uuid4()
    first, second = uuid.uuid4(), uuid.uuid4()
    anna = unit_voice(7)
    stranger = unit_voice(8)
    vectors.name_and_index(job_for(acme, first), voiced_result(data_dir, {"S1": anna}))
    assert store.enroll(str(acme), str(first), "S1", "p-anna")

    # The same voice, a little different, in a later meeting of the same tenant.
    again = (np.asarray(anna) + 0.02 * np.asarray(unit_voice(9))).tolist()
    named = vectors.name_and_index(
        job_for(acme, second), voiced_result(data_dir, {"A": again, "B": stranger})
    )
    assert named.named == 1
    assert {s.id: s.person_id for s in named.result.speakers} == {"A": "p-anna", "B": None}
    assert named.indexed_points == store.count_points(str(acme), str(second))["chunks"] > 0

    # Another tenant never matches acme's person.
    other = vectors.name_and_index(job_for(globex, second), voiced_result(data_dir, {"A": again}))
    assert other.named == 0 and other.result.speakers[0].person_id is None


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except ConnectionRefusedError:
        return True


def test_mock_server_down_is_transient_and_back_with_its_points(
    tmp_path: Path, embedder: TextEmbedder, data_dir: Path
) -> None:
    tenant, meeting = uuid.uuid4(), uuid.uuid4()
    with mock_qdrant_server(tmp_path / "qdrant") as qdrant:
        store = server_store(qdrant.url, embedder, prefix="outage_")
        vectors = MeetingVectors(store)
        done = vectors.name_and_index(
            job_for(tenant, meeting), voiced_result(data_dir, {"S1": unit_voice(1)})
        )
        before = store.count_points(str(tenant), str(meeting))
        assert before == {"chunks": done.indexed_points, "voiceprints": 1}

        qdrant.stop()
        assert not qdrant.running and _refused(qdrant.port)
        # The port stays the server's: nothing else can bind it while it is down.
        with socket.socket() as other, pytest.raises(OSError):
            other.bind(("127.0.0.1", qdrant.port))

        later = uuid.uuid4()
        with pytest.raises(VectorStepError) as raised:
            vectors.name_and_index(
                job_for(tenant, later), voiced_result(data_dir, {"S1": unit_voice(2)})
            )
        assert classify(raised.value) is FailureKind.transient
        # Underneath: the client's connection error (what a search call would surface).
        with pytest.raises(Exception) as direct:
            store.search(SearchQuery(str(tenant), "remote control"))
        chain = list(_chain(direct.value))
        assert any(isinstance(link, httpx.ConnectError) for link in chain), chain

        qdrant.start()
        # The same client, unchanged, works again; nothing written before the outage is lost.
        assert store.count_points(str(tenant), str(meeting)) == before
        hits = store.search(SearchQuery(str(tenant), "remote control design", limit=5))
        assert hits and {h.meeting_id for h in hits} == {str(meeting)}
        retried = vectors.name_and_index(
            job_for(tenant, later), voiced_result(data_dir, {"S1": unit_voice(2)})
        )
        assert store.count_points(str(tenant), str(later))["chunks"] == retried.indexed_points
        store.close()

        # A second client (a restarted worker) finds the schema and the points on disk.
        reopened = server_store(qdrant.url, embedder, prefix="outage_")
        assert reopened.count_points(str(tenant)) == {
            "chunks": done.indexed_points + retried.indexed_points,
            "voiceprints": 2,
        }
        reopened.close()


def test_mock_answers_unknown_calls_loudly(qdrant: MockQdrant) -> None:
    answer = httpx.post(f"{qdrant.url}/collections/x/points/recommend", json={}, timeout=10)
    assert answer.status_code == 404
    assert "does not implement" in answer.json()["status"]["error"]
    missing = httpx.get(f"{qdrant.url}/collections/nope", timeout=10)
    assert missing.status_code == 404 and "nope" in missing.json()["status"]["error"]


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__
