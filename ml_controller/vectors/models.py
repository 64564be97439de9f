"""Search requests and answers, and what indexing a meeting wrote."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

ChunkKind = Literal["transcript", "minutes"]


@dataclass(frozen=True)
class SearchQuery:
    """A question over one tenant's meetings; every filter narrows, none widens."""

    tenant_id: str
    text: str
    limit: int = 10
    meeting_ids: list[str] | None = None
    speaker: str | None = None  # a diarization label; matches chunks in which that label spoke
    person_id: str | None = None
    date_from: datetime | None = None
    date_to: datetime | None = None
    kinds: list[ChunkKind] | None = None


@dataclass(frozen=True)
class SearchHit:
    meeting_id: str
    start: float | None
    end: float | None
    speaker: str | None
    text: str
    score: float
    kind: ChunkKind = "transcript"
    speaker_name: str | None = None
    person_id: str | None = None
    speakers: list[str] = field(default_factory=list)
    meeting_date: datetime | None = None


@dataclass(frozen=True)
class VoiceHit:
    """A stored voiceprint close to a query voice: which meeting speaker, and the cosine."""

    meeting_id: str
    label: str
    score: float
    person_id: str | None = None


@dataclass(frozen=True)
class IndexStats:
    meeting_id: str
    transcript_chunks: int
    minutes_points: int
    seconds: float

    @property
    def points(self) -> int:
        return self.transcript_chunks + self.minutes_points
