"""Tenant-scoped storage of transcript chunks (search by meaning) and voiceprints (naming).

Every read, write and delete carries a tenant_id condition; there is no call without one.
Point ids are uuid5 of tenant / meeting / chunk number (or voice label), so indexing a meeting
again overwrites its points, and the leftovers of a longer earlier version are deleted after.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from core.results import MeetingResult
from ml_controller.vectors.backend import Backend, Cond, StoredPoint, Where, eq
from ml_controller.vectors.chunks import DEFAULT_CHUNKS, ChunkParams, meeting_chunks
from ml_controller.vectors.models import IndexStats, SearchHit, SearchQuery, VoiceHit
from ml_controller.vectors.schema import (
    CHUNK_INDEXES,
    VOICE_INDEXES,
    Collections,
    ensure_collection,
    migrate,
)
from ml_controller.vectors.settings import VectorSettings

if TYPE_CHECKING:
    from ml_controller.speakers.naming import EnrolledVoice
    from ml_controller.text_embedding import TextEmbedder

_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "minuta:vectors")


def point_id(tenant_id: str, meeting_id: str, kind: str, key: str | int) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{tenant_id}/{meeting_id}/{kind}/{key}"))


def _timestamp(moment: datetime) -> float:
    # A naive datetime is taken as UTC, the way the API stores meeting times.
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _tenant(tenant_id: str) -> Cond:
    if not tenant_id:
        raise ValueError("tenant_id is required")
    return eq("tenant_id", tenant_id)


def open_backend(settings: VectorSettings) -> Backend:
    from ml_controller.vectors.client_backend import ClientBackend

    mode = settings.mode
    if mode == "server":
        assert settings.qdrant_url is not None
        return ClientBackend.server(
            settings.qdrant_url, settings.qdrant_api_key, settings.qdrant_timeout
        )
    if mode == "memory":
        return ClientBackend.embedded(None)
    if mode == "local":
        return ClientBackend.embedded(settings.resolved_path / "local")
    from ml_controller.vectors.edge_backend import EdgeBackend

    return EdgeBackend(settings.resolved_path / "edge")


class VectorStore:
    """One per process; a lock makes it safe for a worker's threads."""

    def __init__(
        self,
        backend: Backend,
        *,
        prefix: str = "minuta_",
        embedder: TextEmbedder | None = None,
        chunk_params: ChunkParams = DEFAULT_CHUNKS,
    ) -> None:
        self.backend = backend
        self.names = Collections(prefix)
        self.chunk_params = chunk_params
        self._embedder = embedder
        self._lock = threading.RLock()
        self._schema_ready = False

    @classmethod
    def from_settings(
        cls, settings: VectorSettings | None = None, embedder: TextEmbedder | None = None
    ) -> VectorStore:
        settings = settings or VectorSettings()
        return cls(
            open_backend(settings), prefix=settings.qdrant_collection_prefix, embedder=embedder
        )

    @property
    def embedder(self) -> TextEmbedder:
        # Built on first use: a process that only deletes or names speakers never loads it.
        with self._lock:
            if self._embedder is None:
                from ml_controller.text_embedding import TextEmbedder

                self._embedder = TextEmbedder.from_settings()
            return self._embedder

    def ensure_schema(self) -> None:
        """Migrate to the current schema and create the chunk collection (dim from the model)."""
        with self._lock:
            migrate(self.backend, self.names)
            if self._embedder is not None:
                ensure_collection(
                    self.backend, self.names.chunks, self._embedder.dim, CHUNK_INDEXES
                )
            self._schema_ready = True

    def _ready(self) -> None:
        if not self._schema_ready:
            self.ensure_schema()

    def close(self) -> None:
        with self._lock:
            self.backend.close()

    # ---- transcript chunks -------------------------------------------------------------------

    def index_meeting(
        self,
        tenant_id: str,
        meeting_id: str,
        result: MeetingResult,
        meeting_date: datetime | None = None,
    ) -> IndexStats:
        """Embed and store a meeting's chunks and minutes, replacing what it had before."""
        began = time.perf_counter()
        tenant = _tenant(tenant_id)
        chunks = meeting_chunks(result, self.chunk_params)
        vectors = self.embedder.embed_passages([c.text for c in chunks])
        common: dict[str, Any] = {
            "tenant_id": tenant_id,
            "meeting_id": meeting_id,
            "language": result.audio.language,
            "meeting_ts": _timestamp(meeting_date) if meeting_date else None,
            "meeting_date": meeting_date.isoformat() if meeting_date else None,
        }
        points = [
            StoredPoint(
                point_id(tenant_id, meeting_id, "chunk", c.index),
                {
                    **common,
                    "chunk_index": c.index,
                    "kind": c.kind,
                    "text": c.text,
                    "start": c.start,
                    "end": c.end,
                    "speaker": c.speaker,
                    "speakers": c.speakers,
                    "speaker_name": c.speaker_name,
                    "person_id": c.person_id,
                },
                vector.tolist(),
            )
            for c, vector in zip(chunks, vectors, strict=True)
        ]
        with self._lock:
            self._ready()
            ensure_collection(self.backend, self.names.chunks, vectors.shape[1], CHUNK_INDEXES)
            self.backend.upsert(self.names.chunks, points)
            # Chunks past the new count are left from a longer earlier version of this meeting.
            stale = Where(
                must=(tenant, eq("meeting_id", meeting_id), Cond("chunk_index", gte=len(chunks)))
            )
            self.backend.delete(self.names.chunks, stale)
        minutes = sum(1 for c in chunks if c.kind == "minutes")
        return IndexStats(
            meeting_id=meeting_id,
            transcript_chunks=len(chunks) - minutes,
            minutes_points=minutes,
            seconds=time.perf_counter() - began,
        )

    def search(self, query: SearchQuery) -> list[SearchHit]:
        must = [_tenant(query.tenant_id)]
        if query.meeting_ids is not None:
            if not query.meeting_ids:
                return []
            must.append(Cond("meeting_id", any_of=tuple(query.meeting_ids)))
        if query.speaker:
            must.append(eq("speakers", query.speaker))
        if query.person_id:
            must.append(eq("person_id", query.person_id))
        if query.kinds:
            must.append(Cond("kind", any_of=tuple(query.kinds)))
        if query.date_from or query.date_to:
            must.append(
                Cond(
                    "meeting_ts",
                    gte=_timestamp(query.date_from) if query.date_from else None,
                    lte=_timestamp(query.date_to) if query.date_to else None,
                )
            )
        if not query.text.strip() or query.limit <= 0:
            return []
        vector = self.embedder.embed_queries([query.text])[0].tolist()
        with self._lock:
            self._ready()
            if self.backend.collection_dim(self.names.chunks) is None:
                return []
            found = self.backend.search(
                self.names.chunks, vector, Where(must=tuple(must)), query.limit
            )
        return [_hit(p.payload, p.score) for p in found]

    # ---- voiceprints -------------------------------------------------------------------------

    def add_voiceprints(
        self,
        tenant_id: str,
        meeting_id: str,
        voices: dict[str, list[float]],
        persons: dict[str, str | None],
        schema: str | None = None,
    ) -> None:
        """Store a meeting's voiceprints (label -> vector of embedder `schema`) with the person
        each was named as. A new run of the meeting replaces its voiceprints of every schema."""
        tenant = _tenant(tenant_id)
        collection = self.names.voiceprints_of(schema)
        points = [
            StoredPoint(
                point_id(tenant_id, meeting_id, "voice", label),
                {
                    "tenant_id": tenant_id,
                    "meeting_id": meeting_id,
                    "label": label,
                    "person_id": persons.get(label),
                    "schema": schema,
                },
                [float(x) for x in vector],
            )
            for label, vector in voices.items()
        ]
        with self._lock:
            self._ready()
            if points:
                dim = len(points[0].vector or [])
                ensure_collection(self.backend, collection, dim, VOICE_INDEXES)
                self.backend.upsert(collection, points)
            for name in self._voice_collections():
                # Labels of an earlier run of this meeting that the new run no longer has, and
                # its voiceprints of other embedders.
                current = voices and name == collection
                keep = (Cond("label", any_of=tuple(voices)),) if current else ()
                gone = Where(must=(tenant, eq("meeting_id", meeting_id)), must_not=keep)
                self.backend.delete(name, gone)

    def enrolled_voices(self, tenant_id: str, schema: str | None = None) -> list[EnrolledVoice]:
        """The tenant's voiceprints named as persons, of embedder `schema` only."""
        from ml_controller.speakers.naming import EnrolledVoice

        where = Where(must=(_tenant(tenant_id),), must_not=(Cond("person_id", is_empty=True),))
        collection = self.names.voiceprints_of(schema)
        with self._lock:
            self._ready()
            if self.backend.collection_dim(collection) is None:
                return []
            stored = self.backend.scroll(collection, where, with_vectors=True)
        return [
            EnrolledVoice(
                person_id=str(p.payload["person_id"]),
                vector=np.asarray(p.vector, dtype=np.float32),
                schema=schema,
            )
            for p in stored
        ]

    def stale_voiceprints(self, tenant_id: str, schema: str | None) -> int:
        """Named voiceprints of the tenant made by another embedder than `schema`: they are
        never compared with `schema`'s, so those persons are not recognised until named again
        in a meeting processed by the current embedder."""
        where = Where(must=(_tenant(tenant_id),), must_not=(Cond("person_id", is_empty=True),))
        current = self.names.voiceprints_of(schema)
        with self._lock:
            self._ready()
            return sum(
                self.backend.count(name, where)
                for name in self._voice_collections()
                if name != current
            )

    def voiceprint_of(
        self, tenant_id: str, meeting_id: str, label: str
    ) -> tuple[str | None, np.ndarray] | None:
        """A meeting speaker's voiceprint and its embedder schema (None: legacy); None when no
        print of it is stored. A meeting's prints live in one schema's collection only."""
        where = Where(must=(_tenant(tenant_id), eq("meeting_id", meeting_id), eq("label", label)))
        with self._lock:
            self._ready()
            for name in self._voice_collections():
                for point in self.backend.scroll(name, where, with_vectors=True):
                    if point.vector is not None:
                        return point.payload.get("schema"), np.asarray(point.vector, np.float32)
        return None

    def similar_voices(
        self,
        tenant_id: str,
        schema: str | None,
        vector: np.ndarray,
        *,
        exclude_meeting: str,
        limit: int = 1000,
    ) -> list[VoiceHit]:
        """The tenant's voiceprints of `schema` (only: other embedders' are another vector space)
        outside `exclude_meeting`, most similar first, scored by cosine similarity."""
        collection = self.names.voiceprints_of(schema)
        where = Where(must=(_tenant(tenant_id),), must_not=(eq("meeting_id", exclude_meeting),))
        with self._lock:
            self._ready()
            if self.backend.collection_dim(collection) is None:
                return []
            found = self.backend.search(collection, [float(x) for x in vector], where, limit)
        return [
            VoiceHit(
                meeting_id=str(p.payload["meeting_id"]),
                label=str(p.payload["label"]),
                score=p.score,
                person_id=p.payload.get("person_id"),
            )
            for p in found
        ]

    def _voice_collections(self) -> list[str]:
        return [
            name
            for name in self.names.all_voiceprints()
            if self.backend.collection_dim(name) is not None
        ]

    def enroll(self, tenant_id: str, meeting_id: str, label: str, person_id: str) -> bool:
        """Name a meeting's speaker: its voiceprint and its chunks get the person id."""
        where = Where(must=(_tenant(tenant_id), eq("meeting_id", meeting_id), eq("label", label)))
        with self._lock:
            self._ready()
            found = [n for n in self._voice_collections() if self.backend.count(n, where) > 0]
            if not found:
                return False
            for name in found:
                self.backend.set_payload(name, where, {"person_id": person_id})
            self._set_chunk_person(
                Where(
                    must=(_tenant(tenant_id), eq("meeting_id", meeting_id), eq("speaker", label))
                ),
                person_id,
            )
        return True

    def forget_speaker(self, tenant_id: str, meeting_id: str, label: str) -> bool:
        """Un-name a meeting's speaker: its voiceprint and chunks lose the person id (the print
        stays, unnamed, so it can be named again). False when no print of it is stored."""
        where = Where(must=(_tenant(tenant_id), eq("meeting_id", meeting_id), eq("label", label)))
        with self._lock:
            self._ready()
            found = [n for n in self._voice_collections() if self.backend.count(n, where) > 0]
            for name in found:
                self.backend.set_payload(name, where, {"person_id": None})
            self._set_chunk_person(
                Where(
                    must=(_tenant(tenant_id), eq("meeting_id", meeting_id), eq("speaker", label))
                ),
                None,
            )
        return bool(found)

    def merge_persons(self, tenant_id: str, source_id: str, target_id: str) -> int:
        """Move every voiceprint (and chunk) of source to target; returns voiceprints moved."""
        if source_id == target_id:
            return 0
        where = Where(must=(_tenant(tenant_id), eq("person_id", source_id)))
        with self._lock:
            self._ready()
            self._set_chunk_person(where, target_id)
            moved = 0
            for name in self._voice_collections():
                count = self.backend.count(name, where)
                if count:
                    self.backend.set_payload(name, where, {"person_id": target_id})
                moved += count
        return moved

    def delete_person(self, tenant_id: str, person_id: str) -> int:
        """Forget a person's voice: their voiceprints go, chunks keep the text but lose the id."""
        where = Where(must=(_tenant(tenant_id), eq("person_id", person_id)))
        with self._lock:
            self._ready()
            self._set_chunk_person(where, None)
            deleted = 0
            for name in self._voice_collections():
                count = self.backend.count(name, where)
                if count:
                    self.backend.delete(name, where)
                deleted += count
        return deleted

    def delete_meeting(self, tenant_id: str, meeting_id: str) -> None:
        where = Where(must=(_tenant(tenant_id), eq("meeting_id", meeting_id)))
        with self._lock:
            self._ready()
            for name in (self.names.chunks, *self.names.all_voiceprints()):
                if self.backend.collection_dim(name) is not None:
                    self.backend.delete(name, where)

    def count_points(self, tenant_id: str, meeting_id: str | None = None) -> dict[str, int]:
        """Points per collection for a tenant (and meeting): for tests, metrics and checks."""
        must = [_tenant(tenant_id)] + ([eq("meeting_id", meeting_id)] if meeting_id else [])
        where = Where(must=tuple(must))
        with self._lock:
            chunks = (
                self.backend.count(self.names.chunks, where)
                if self.backend.collection_dim(self.names.chunks) is not None
                else 0
            )
            voices = sum(self.backend.count(n, where) for n in self._voice_collections())
            return {"chunks": chunks, "voiceprints": voices}

    def _set_chunk_person(self, where: Where, person_id: str | None) -> None:
        if self.backend.collection_dim(self.names.chunks) is not None:
            self.backend.set_payload(self.names.chunks, where, {"person_id": person_id})


def _hit(payload: dict[str, Any], score: float) -> SearchHit:
    date = payload.get("meeting_date")
    return SearchHit(
        meeting_id=str(payload["meeting_id"]),
        start=payload.get("start"),
        end=payload.get("end"),
        speaker=payload.get("speaker"),
        text=str(payload.get("text", "")),
        score=score,
        kind=payload.get("kind", "transcript"),
        speaker_name=payload.get("speaker_name"),
        person_id=payload.get("person_id"),
        speakers=list(payload.get("speakers") or []),
        meeting_date=datetime.fromisoformat(date) if date else None,
    )
