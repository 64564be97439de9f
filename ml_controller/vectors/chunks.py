"""Cut a meeting into searchable pieces: transcript chunks of a useful length, and minutes items.

A chunk is a run of consecutive transcript segments. A speaker change starts a new chunk once the
current one holds ``min_words``; shorter interjections ("OK.", "Right.") join their neighbours,
because alone they embed to noise. A chunk never exceeds ``max_words`` or ``max_seconds``, and a
segment longer than ``max_words`` is cut into even pieces (times interpolated by word position).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

from core.results import MeetingResult, Minutes, Segment, Speaker
from ml_controller.vectors.models import ChunkKind


@dataclass(frozen=True)
class ChunkParams:
    max_words: int = 120
    min_words: int = 40
    max_seconds: float = 90.0


DEFAULT_CHUNKS = ChunkParams()


@dataclass(frozen=True)
class Chunk:
    index: int
    kind: ChunkKind
    text: str
    start: float | None = None
    end: float | None = None
    speaker: str | None = None  # the label that spoke most words in the chunk
    speakers: list[str] = field(default_factory=list)
    speaker_name: str | None = None
    person_id: str | None = None


@dataclass
class _Piece:
    start: float
    end: float
    speaker: str
    words: list[str]


def _split_segment(segment: Segment, max_words: int) -> list[_Piece]:
    words = segment.text.split()
    if not words:
        return []
    parts = max(1, math.ceil(len(words) / max_words))
    size = math.ceil(len(words) / parts)
    span = segment.end - segment.start
    pieces = []
    for i in range(0, len(words), size):
        j = min(i + size, len(words))
        pieces.append(
            _Piece(
                start=segment.start + span * i / len(words),
                end=segment.start + span * j / len(words),
                speaker=segment.speaker,
                words=words[i:j],
            )
        )
    return pieces


def transcript_chunks(
    segments: list[Segment], speakers: list[Speaker], params: ChunkParams = DEFAULT_CHUNKS
) -> list[Chunk]:
    """Chunks of the transcript in time order, numbered from 0."""
    by_label = {s.id: s for s in speakers}
    groups: list[list[_Piece]] = []
    current: list[_Piece] = []
    n_words = 0
    for segment in segments:
        for piece in _split_segment(segment, params.max_words):
            if current:
                too_long = n_words + len(piece.words) > params.max_words
                too_wide = piece.end - current[0].start > params.max_seconds
                turn_ends = piece.speaker != current[-1].speaker and n_words >= params.min_words
                if too_long or too_wide or turn_ends:
                    groups.append(current)
                    current, n_words = [], 0
            current.append(piece)
            n_words += len(piece.words)
    if current:
        groups.append(current)

    chunks = []
    for index, group in enumerate(groups):
        counts: Counter[str] = Counter()
        for piece in group:
            counts[piece.speaker] += len(piece.words)
        dominant = counts.most_common(1)[0][0]
        known = by_label.get(dominant)
        chunks.append(
            Chunk(
                index=index,
                kind="transcript",
                text=" ".join(w for piece in group for w in piece.words),
                start=group[0].start,
                end=max(piece.end for piece in group),
                speaker=dominant,
                speakers=list(dict.fromkeys(piece.speaker for piece in group)),
                speaker_name=known.name if known else None,
                person_id=known.person_id if known else None,
            )
        )
    return chunks


def minutes_chunks(minutes: Minutes, first_index: int = 0) -> list[Chunk]:
    """The summary, each topic, decision and action item as its own searchable point."""
    items: list[tuple[str, float | None, float | None, str | None]] = []
    if minutes.summary.strip():
        head = f"{minutes.title}. " if minutes.title.strip() else ""
        items.append((head + minutes.summary.strip(), None, None, None))
    for topic in minutes.topics:
        text = ". ".join(t for t in (topic.title.strip(), topic.summary.strip()) if t)
        if text:
            items.append((text, topic.start, topic.end, None))
    for decision in minutes.decisions:
        if decision.strip():
            items.append((f"Decision: {decision.strip()}", None, None, None))
    for item in minutes.action_items:
        due = f" (due {item.due})" if item.due else ""
        text = f"Action item for {item.owner}: {item.task.strip()}{due}"
        items.append((text, item.evidence.start, item.evidence.end, item.owner))
    return [
        Chunk(
            index=first_index + i,
            kind="minutes",
            text=text,
            start=start,
            end=end,
            speaker=owner,
            speakers=[owner] if owner else [],
        )
        for i, (text, start, end, owner) in enumerate(items)
    ]


def meeting_chunks(result: MeetingResult, params: ChunkParams = DEFAULT_CHUNKS) -> list[Chunk]:
    transcript = transcript_chunks(result.segments, result.speakers, params)
    return transcript + minutes_chunks(result.minutes, first_index=len(transcript))
