"""Collections, payload indexes and the schema version, with the steps that migrate old stores.

The version lives in a one-point `<prefix>meta` collection, so it sits in the same store as the
data whatever the backend. A store with collections but no version record is version 1.

Version history:
1. chunks and voiceprints indexed by tenant_id and meeting_id; chunk points had no `kind`.
2. chunk points carry `kind` ("transcript" | "minutes"); indexes for kind, speaker, speakers,
   person_id, the meeting date (`meeting_ts`, epoch seconds) and voiceprint labels.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass

from ml_controller.vectors.backend import Backend, Cond, IndexKind, StoredPoint, Where

SCHEMA_VERSION = 2
# Speaker-embedder schemas (ml_controller/diarization/embedders.py) with a voiceprint collection
# of their own; voiceprints stored without a schema are the legacy GE2E ones.
LEGACY_VOICE_SCHEMA = "ge2e-256-v1"
VOICE_SCHEMAS = ("campplus-192-v1", "pyannote-v1")
_META_ID = str(uuid.uuid5(uuid.NAMESPACE_URL, "minuta:vectors:schema"))

CHUNK_INDEXES: dict[str, IndexKind] = {
    "tenant_id": "keyword",
    "meeting_id": "keyword",
    "kind": "keyword",
    "speaker": "keyword",
    "speakers": "keyword",
    "person_id": "keyword",
    "meeting_ts": "float",
}
VOICE_INDEXES: dict[str, IndexKind] = {
    "tenant_id": "keyword",
    "meeting_id": "keyword",
    "label": "keyword",
    "person_id": "keyword",
}
# What version 1 indexed; kept for the migration and its test.
V1_INDEXES: dict[str, IndexKind] = {"tenant_id": "keyword", "meeting_id": "keyword"}


@dataclass(frozen=True)
class Collections:
    prefix: str

    @property
    def chunks(self) -> str:
        return f"{self.prefix}chunks"

    @property
    def voiceprints(self) -> str:
        """Voiceprints stored before embedder schemas were recorded (GE2E, 256-d)."""
        return f"{self.prefix}voiceprints"

    def voiceprints_of(self, schema: str | None) -> str:
        """One collection per speaker-embedder schema: voiceprints of different embedders live
        in different vector spaces (and sizes) and are never compared. None is the legacy one."""
        if schema is None or schema == LEGACY_VOICE_SCHEMA:
            return self.voiceprints
        slug = "".join(c if c.isalnum() else "_" for c in schema)
        return f"{self.prefix}voiceprints_{slug}"

    def all_voiceprints(self) -> list[str]:
        """Every voiceprint collection this code knows, the legacy one first."""
        return [self.voiceprints_of(s) for s in (None, *VOICE_SCHEMAS)]

    @property
    def meta(self) -> str:
        return f"{self.prefix}meta"


def read_version(backend: Backend, names: Collections) -> int | None:
    if backend.collection_dim(names.meta) is None:
        return None
    for point in backend.scroll(names.meta, Where()):
        if point.id == _META_ID:
            return int(point.payload["schema_version"])
    return None


def write_version(backend: Backend, names: Collections, version: int) -> None:
    if backend.collection_dim(names.meta) is None:
        backend.create_collection(names.meta, 1)
    backend.upsert(names.meta, [StoredPoint(_META_ID, {"schema_version": version}, [1.0])])


def _migrate_1_to_2(backend: Backend, names: Collections) -> None:
    if backend.collection_dim(names.chunks) is not None:
        backend.set_payload(
            names.chunks, Where(must=(Cond("kind", is_empty=True),)), {"kind": "transcript"}
        )
        for field_name, kind in CHUNK_INDEXES.items():
            backend.create_index(names.chunks, field_name, kind)
    if backend.collection_dim(names.voiceprints) is not None:
        for field_name, kind in VOICE_INDEXES.items():
            backend.create_index(names.voiceprints, field_name, kind)


# MIGRATIONS[v] turns a version-v store into version v + 1.
MIGRATIONS: dict[int, Callable[[Backend, Collections], None]] = {1: _migrate_1_to_2}


def migrate(backend: Backend, names: Collections) -> int:
    """Bring the store to SCHEMA_VERSION; returns the version it had (0 for a new store)."""
    found = read_version(backend, names)
    if found is None:
        has_data = any(
            backend.collection_dim(n) is not None for n in (names.chunks, names.voiceprints)
        )
        found = 1 if has_data else 0
    if found > SCHEMA_VERSION:
        raise RuntimeError(
            f"vector store schema {found} is newer than this code's {SCHEMA_VERSION}; "
            "upgrade Minuta"
        )
    version = max(found, 1)
    while found and version < SCHEMA_VERSION:
        MIGRATIONS[version](backend, names)
        version += 1
    write_version(backend, names, SCHEMA_VERSION)
    return found


def ensure_collection(backend: Backend, name: str, dim: int, indexes: dict[str, IndexKind]) -> None:
    """Create a collection with its indexes, or check an existing one has the same vector size."""
    existing = backend.collection_dim(name)
    if existing is None:
        backend.create_collection(name, dim)
        for field_name, kind in indexes.items():
            backend.create_index(name, field_name, kind)
    elif existing != dim:
        raise ValueError(
            f"collection {name} holds {existing}-d vectors but the model gives {dim}-d; "
            "a different embedding model needs a new collection prefix and re-indexing"
        )
