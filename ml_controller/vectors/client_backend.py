"""Backend on qdrant-client: a Qdrant server by URL, or qdrant-client's local mode.

Local mode (a folder or ":memory:") scores every point in numpy on each query; it is exact but
slow past some ten thousand points (benchmarks/results/vector_store.json) and ignores payload
indexes. The server is the production path.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

from qdrant_client import QdrantClient, models

from ml_controller.vectors.backend import Cond, IndexKind, ScoredPoint, StoredPoint, Where

_SCHEMA = {"keyword": models.PayloadSchemaType.KEYWORD, "float": models.PayloadSchemaType.FLOAT}
_PAGE = 1024


def _condition(cond: Cond) -> models.Condition:
    if cond.is_empty:
        return models.IsEmptyCondition(is_empty=models.PayloadField(key=cond.key))
    if cond.value is not None:
        return models.FieldCondition(key=cond.key, match=models.MatchValue(value=cond.value))
    if cond.any_of is not None:
        return models.FieldCondition(key=cond.key, match=models.MatchAny(any=list(cond.any_of)))
    return models.FieldCondition(key=cond.key, range=models.Range(gte=cond.gte, lte=cond.lte))


def _filter(where: Where) -> models.Filter:
    return models.Filter(
        must=[_condition(c) for c in where.must] or None,
        must_not=[_condition(c) for c in where.must_not] or None,
    )


class ClientBackend:
    def __init__(self, client: QdrantClient, *, local: bool) -> None:
        self._client = client
        self._local = local

    @classmethod
    def server(cls, url: str, api_key: str | None, timeout: float) -> ClientBackend:
        return cls(QdrantClient(url=url, api_key=api_key, timeout=int(timeout)), local=False)

    @classmethod
    def embedded(cls, path: Path | None) -> ClientBackend:
        """Local mode in a folder, or in memory when path is None."""
        if path is None:
            return cls(QdrantClient(location=":memory:"), local=True)
        path.mkdir(parents=True, exist_ok=True)
        return cls(QdrantClient(path=str(path)), local=True)

    def collection_dim(self, name: str) -> int | None:
        if not self._client.collection_exists(name):
            return None
        vectors = self._client.get_collection(name).config.params.vectors
        if isinstance(vectors, models.VectorParams):
            return int(vectors.size)
        raise ValueError(f"collection {name} has named vectors; this store uses one unnamed vector")

    def create_collection(self, name: str, dim: int) -> None:
        self._client.create_collection(
            name, vectors_config=models.VectorParams(size=dim, distance=models.Distance.COSINE)
        )

    def delete_collection(self, name: str) -> None:
        self._client.delete_collection(name)

    def create_index(self, name: str, field_name: str, kind: IndexKind) -> None:
        with warnings.catch_warnings():
            # Local mode warns that payload indexes do nothing there; the server uses them.
            warnings.simplefilter("ignore", UserWarning)
            self._client.create_payload_index(name, field_name, field_schema=_SCHEMA[kind])

    def indexed_fields(self, name: str) -> set[str] | None:
        if self._local:
            return None
        return set(self._client.get_collection(name).payload_schema)

    def upsert(self, name: str, points: list[StoredPoint]) -> None:
        for i in range(0, len(points), _PAGE):
            batch = points[i : i + _PAGE]
            self._client.upsert(
                name,
                points=[
                    models.PointStruct(id=p.id, vector=p.vector or [], payload=p.payload)
                    for p in batch
                ],
                wait=True,
            )

    def delete(self, name: str, where: Where) -> None:
        self._client.delete(name, points_selector=models.FilterSelector(filter=_filter(where)))

    def set_payload(self, name: str, where: Where, payload: dict[str, Any]) -> None:
        self._client.set_payload(name, payload=payload, points=_filter(where), wait=True)

    def count(self, name: str, where: Where) -> int:
        return int(self._client.count(name, count_filter=_filter(where), exact=True).count)

    def scroll(self, name: str, where: Where, with_vectors: bool = False) -> list[StoredPoint]:
        out: list[StoredPoint] = []
        offset: Any = None
        while True:
            records, offset = self._client.scroll(
                name,
                scroll_filter=_filter(where),
                limit=_PAGE,
                offset=offset,
                with_payload=True,
                with_vectors=with_vectors,
            )
            for r in records:
                vector = r.vector if isinstance(r.vector, list) else None
                out.append(StoredPoint(str(r.id), dict(r.payload or {}), vector))  # type: ignore[arg-type]
            if offset is None:
                return out

    def search(self, name: str, vector: list[float], where: Where, limit: int) -> list[ScoredPoint]:
        response = self._client.query_points(
            name, query=vector, query_filter=_filter(where), limit=limit, with_payload=True
        )
        return [
            ScoredPoint(str(p.id), float(p.score), dict(p.payload or {})) for p in response.points
        ]

    def close(self) -> None:
        self._client.close()
