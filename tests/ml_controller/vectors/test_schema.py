"""Schema versioning: a fresh store is created at the current version; an old one is migrated."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_controller.text_embedding import TextEmbedder
from ml_controller.vectors.backend import StoredPoint, Where, eq
from ml_controller.vectors.models import SearchQuery
from ml_controller.vectors.schema import (
    CHUNK_INDEXES,
    SCHEMA_VERSION,
    V1_INDEXES,
    VOICE_INDEXES,
    ensure_collection,
    read_version,
    write_version,
)
from ml_controller.vectors.settings import VectorSettings
from ml_controller.vectors.store import VectorStore, point_id


def test_fresh_store_is_current(store: VectorStore) -> None:
    assert read_version(store.backend, store.names) == SCHEMA_VERSION
    indexed = store.backend.indexed_fields(store.names.chunks)
    if indexed is not None:  # qdrant-client's local mode keeps no payload indexes
        assert indexed == set(CHUNK_INDEXES)


def _v1_store(settings: VectorSettings, embedder: TextEmbedder) -> None:
    """Write a store the way schema version 1 laid it out: no `kind`, two indexes, version 1."""
    raw = VectorStore.from_settings(settings, embedder=embedder)
    names = raw.names
    ensure_collection(raw.backend, names.chunks, embedder.dim, V1_INDEXES)
    ensure_collection(raw.backend, names.voiceprints, 4, V1_INDEXES)
    text = "The marketing budget for the next quarter was cut by twenty percent."
    vector = embedder.embed_passages([text])[0].tolist()
    payload = {
        "tenant_id": "acme",
        "meeting_id": "old",
        "chunk_index": 0,
        "text": text,
        "start": 1.0,
        "end": 5.0,
        "speaker": "S1",
        "speakers": ["S1"],
    }
    raw.backend.upsert(
        names.chunks, [StoredPoint(point_id("acme", "old", "chunk", 0), payload, vector)]
    )
    voice = {"tenant_id": "acme", "meeting_id": "old", "label": "S1", "person_id": "p1"}
    raw.backend.upsert(
        names.voiceprints,
        [StoredPoint(point_id("acme", "old", "voice", "S1"), voice, [1.0, 0, 0, 0])],
    )
    write_version(raw.backend, names, 1)
    raw.close()


def test_version_1_store_is_migrated(tmp_path: Path, embedder: TextEmbedder) -> None:
    settings = VectorSettings(qdrant_path=tmp_path / "qdrant", qdrant_embedded_engine="edge")
    _v1_store(settings, embedder)

    store = VectorStore.from_settings(settings, embedder=embedder)
    assert read_version(store.backend, store.names) == 1
    assert store.backend.indexed_fields(store.names.chunks) == set(V1_INDEXES)
    # Before the migration the old point has no kind, so a kind filter misses it.
    assert store.backend.count(store.names.chunks, _where_kind("transcript")) == 0

    store.ensure_schema()
    assert read_version(store.backend, store.names) == SCHEMA_VERSION
    assert store.backend.indexed_fields(store.names.chunks) == set(CHUNK_INDEXES)
    assert store.backend.indexed_fields(store.names.voiceprints) == set(VOICE_INDEXES)
    hits = store.search(SearchQuery("acme", "бюджет на маркетинг", kinds=["transcript"]))
    assert [h.meeting_id for h in hits] == ["old"] and hits[0].kind == "transcript"
    assert [v.person_id for v in store.enrolled_voices("acme")] == ["p1"]
    store.close()

    # Opening it again finds the current version and changes nothing.
    again = VectorStore.from_settings(settings, embedder=embedder)
    again.ensure_schema()
    assert again.count_points("acme") == {"chunks": 1, "voiceprints": 1}
    again.close()


def test_unversioned_store_with_data_counts_as_version_1(
    tmp_path: Path, embedder: TextEmbedder
) -> None:
    settings = VectorSettings(qdrant_path=tmp_path / "qdrant", qdrant_embedded_engine="local")
    raw = VectorStore.from_settings(settings, embedder=embedder)
    ensure_collection(raw.backend, raw.names.voiceprints, 4, V1_INDEXES)
    raw.close()
    store = VectorStore.from_settings(settings, embedder=embedder)
    store.ensure_schema()
    assert read_version(store.backend, store.names) == SCHEMA_VERSION
    store.close()


def test_newer_store_is_refused(tmp_path: Path, embedder: TextEmbedder) -> None:
    settings = VectorSettings(qdrant_path=tmp_path / "qdrant")
    raw = VectorStore.from_settings(settings, embedder=embedder)
    write_version(raw.backend, raw.names, SCHEMA_VERSION + 1)
    with pytest.raises(RuntimeError, match="newer"):
        raw.ensure_schema()
    raw.close()


def test_vector_size_change_is_refused(tmp_path: Path, embedder: TextEmbedder) -> None:
    store = VectorStore.from_settings(VectorSettings(qdrant_path=tmp_path / "q"), embedder=embedder)
    store.add_voiceprints("acme", "m1", {"S1": [1.0, 0.0, 0.0]}, {})
    with pytest.raises(ValueError, match="3-d"):
        store.add_voiceprints("acme", "m2", {"S1": [1.0, 0.0]}, {})
    store.close()


def _where_kind(kind: str) -> Where:
    return Where(must=(eq("kind", kind),))
