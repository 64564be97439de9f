"""The few storage operations the vector store needs, so one store runs on two Qdrant APIs.

qdrant-client speaks to a Qdrant server (production) or runs its local mode; qdrant-edge runs
Qdrant's own engine in process with a different API. Filters are written once, as `Where`, and
each backend translates them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

IndexKind = Literal["keyword", "float"]


@dataclass(frozen=True)
class Cond:
    """One condition on a payload field: equals, any of, within a range, or empty."""

    key: str
    value: str | None = None
    any_of: tuple[str, ...] | None = None
    gte: float | None = None
    lte: float | None = None
    is_empty: bool = False


@dataclass(frozen=True)
class Where:
    must: tuple[Cond, ...] = ()
    must_not: tuple[Cond, ...] = ()


def eq(key: str, value: str) -> Cond:
    return Cond(key=key, value=value)


@dataclass
class StoredPoint:
    id: str
    payload: dict[str, Any]
    vector: list[float] | None = None


@dataclass
class ScoredPoint:
    id: str
    score: float
    payload: dict[str, Any] = field(default_factory=dict)


class Backend(Protocol):
    def collection_dim(self, name: str) -> int | None:
        """The vector size of a collection, None when it does not exist."""
        ...

    def create_collection(self, name: str, dim: int) -> None: ...

    def delete_collection(self, name: str) -> None: ...

    def create_index(self, name: str, field_name: str, kind: IndexKind) -> None: ...

    def indexed_fields(self, name: str) -> set[str] | None:
        """Fields with a payload index; None when the backend keeps no indexes (local mode)."""
        ...

    def upsert(self, name: str, points: list[StoredPoint]) -> None: ...

    def delete(self, name: str, where: Where) -> None: ...

    def set_payload(self, name: str, where: Where, payload: dict[str, Any]) -> None: ...

    def count(self, name: str, where: Where) -> int: ...

    def scroll(self, name: str, where: Where, with_vectors: bool = False) -> list[StoredPoint]: ...

    def search(
        self, name: str, vector: list[float], where: Where, limit: int
    ) -> list[ScoredPoint]: ...

    def close(self) -> None: ...
