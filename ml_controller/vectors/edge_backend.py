"""Backend on qdrant-edge: Qdrant's own engine (HNSW, payload indexes) inside this process.

Each collection is one edge shard in its own folder under the store's root. Edge has no
background optimizer: `optimize()` after each write builds the HNSW index once a segment passes
Qdrant's indexing threshold (below it a plain segment is scanned, which is fast at that size).
One process owns the folder; a lock serialises writes from a worker's threads.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import Any

import qdrant_edge as qe

from ml_controller.vectors.backend import Cond, IndexKind, ScoredPoint, StoredPoint, Where

_SCHEMA = {"keyword": qe.PayloadSchemaType.Keyword, "float": qe.PayloadSchemaType.Float}
_PAGE = 1024


def _condition(cond: Cond) -> Any:
    if cond.is_empty:
        return qe.IsEmptyCondition(cond.key)
    if cond.value is not None:
        return qe.FieldCondition(key=cond.key, match=qe.MatchValue(cond.value))
    if cond.any_of is not None:
        return qe.FieldCondition(key=cond.key, match=qe.MatchAny(list(cond.any_of)))
    return qe.FieldCondition(key=cond.key, range=qe.RangeFloat(gte=cond.gte, lte=cond.lte))


def _filter(where: Where) -> qe.Filter | None:
    if not where.must and not where.must_not:
        return None
    return qe.Filter(
        must=[_condition(c) for c in where.must] or None,
        must_not=[_condition(c) for c in where.must_not] or None,
    )


def _vector(raw: Any) -> list[float] | None:
    return [float(x) for x in raw] if isinstance(raw, list) else None


class EdgeBackend:
    def __init__(self, root: Path) -> None:
        self._root = root
        self._root.mkdir(parents=True, exist_ok=True)
        self._shards: dict[str, qe.EdgeShard] = {}
        self._lock = threading.RLock()

    def _dir(self, name: str) -> Path:
        return self._root / name

    def _shard(self, name: str) -> qe.EdgeShard:
        with self._lock:
            shard = self._shards.get(name)
            if shard is None:
                if self.collection_dim(name) is None:
                    raise KeyError(f"collection {name} does not exist")
                shard = qe.EdgeShard.load(str(self._dir(name)))
                self._shards[name] = shard
            return shard

    def collection_dim(self, name: str) -> int | None:
        config = self._dir(name) / "edge_config.json"
        if not config.is_file():
            return None
        vectors = json.loads(config.read_text())["vectors"]
        return int(vectors[""]["size"])

    def create_collection(self, name: str, dim: int) -> None:
        with self._lock:
            config = qe.EdgeConfig(
                vectors=qe.EdgeVectorParams(size=dim, distance=qe.Distance.Cosine)
            )
            self._shards[name] = qe.EdgeShard.create(str(self._dir(name)), config)

    def delete_collection(self, name: str) -> None:
        with self._lock:
            shard = self._shards.pop(name, None)
            if shard is not None:
                shard.close()
            shutil.rmtree(self._dir(name), ignore_errors=True)

    def create_index(self, name: str, field_name: str, kind: IndexKind) -> None:
        with self._lock:
            self._shard(name).update(
                qe.UpdateOperation.create_field_index(field_name, _SCHEMA[kind])
            )

    def indexed_fields(self, name: str) -> set[str] | None:
        return set(self._shard(name).info().payload_schema)

    def upsert(self, name: str, points: list[StoredPoint]) -> None:
        with self._lock:
            shard = self._shard(name)
            for i in range(0, len(points), _PAGE):
                batch = [qe.Point(p.id, p.vector or [], p.payload) for p in points[i : i + _PAGE]]
                shard.update(qe.UpdateOperation.upsert_points(batch))
            shard.optimize()
            shard.flush()

    def delete(self, name: str, where: Where) -> None:
        with self._lock:
            shard = self._shard(name)
            selector = _filter(where)
            if selector is None:
                raise ValueError("refusing to delete a whole collection through a filter")
            shard.update(qe.UpdateOperation.delete_points_by_filter(selector))
            shard.flush()

    def set_payload(self, name: str, where: Where, payload: dict[str, Any]) -> None:
        with self._lock:
            shard = self._shard(name)
            selector = _filter(where) or qe.Filter()
            shard.update(qe.UpdateOperation.set_payload_by_filter(selector, payload))
            shard.flush()

    def count(self, name: str, where: Where) -> int:
        return int(self._shard(name).count(qe.CountRequest(exact=True, filter=_filter(where))))

    def scroll(self, name: str, where: Where, with_vectors: bool = False) -> list[StoredPoint]:
        shard = self._shard(name)
        out: list[StoredPoint] = []
        offset: Any = None
        while True:
            request = qe.ScrollRequest(
                offset=offset,
                limit=_PAGE,
                filter=_filter(where),
                with_payload=True,
                with_vector=with_vectors,
            )
            records, offset = shard.scroll(request)
            out.extend(
                StoredPoint(str(r.id), dict(r.payload or {}), _vector(r.vector)) for r in records
            )
            if offset is None:
                return out

    def search(self, name: str, vector: list[float], where: Where, limit: int) -> list[ScoredPoint]:
        request = qe.QueryRequest(
            limit=limit,
            query=qe.Query.Nearest(vector),
            filter=_filter(where),
            with_payload=True,
        )
        return [
            ScoredPoint(str(p.id), float(p.score), dict(p.payload or {}))
            for p in self._shard(name).query(request)
        ]

    def close(self) -> None:
        with self._lock:
            for shard in self._shards.values():
                shard.close()
            self._shards.clear()
