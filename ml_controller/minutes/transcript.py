"""The transcript as the LLM reads it: `[mm:ss] Speaker: text` lines, grouped into chunks.

Each line's `[mm:ss]` mark doubles as the vocabulary of times the model may cite as evidence, so
a time in an answer can be mapped back to the exact line it came from.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.results import Segment, Speaker


@dataclass(frozen=True)
class Line:
    start: float
    end: float
    speaker: str  # the speaker's name where known, else the label (S1, S2, ...)
    text: str

    @property
    def stamp(self) -> str:
        return stamp(self.start)

    def render(self) -> str:
        return f"[{self.stamp}] {self.speaker}: {self.text}"


@dataclass(frozen=True)
class TopicSpan:
    index: int  # which of the meeting's topic segments
    start: float  # the extent shown to the model: the segment, or the piece of it in this chunk
    end: float


@dataclass(frozen=True)
class Chunk:
    """The lines one map call reads: the whole meeting, or one part of a long one."""

    # The lines of each topic segment in the chunk (one group when no segmentation is known).
    groups: list[list[Line]]
    # The topic segments this chunk covers, one per group; None when no segmentation is known.
    topics: list[TopicSpan] | None

    @property
    def lines(self) -> list[Line]:
        return [line for group in self.groups for line in group]

    @property
    def sectioned(self) -> bool:
        """Whether each group is a known topic segment, shown to the model under a heading."""
        return self.topics is not None


def stamp(seconds: float) -> str:
    """mm:ss with minutes past 59 kept as minutes (75:30), one format for any length."""
    total = max(0, int(seconds))
    minutes, secs = divmod(total, 60)
    return f"{minutes:02d}:{secs:02d}"


def parse_stamp(text: str) -> float | None:
    """Seconds from mm:ss or h:mm:ss; None when it is neither."""
    parts = text.strip().strip("[]").split(":")
    if not 2 <= len(parts) <= 3 or not all(p.isdigit() for p in parts):
        return None
    value = 0
    for part in parts:
        value = value * 60 + int(part)
    return float(value)


def display_names(speakers: list[Speaker], segments: list[Segment]) -> dict[str, str]:
    """Speaker label → what the minutes call them: the name once known, the label until then."""
    names = {s.id: (s.name or s.id).strip() or s.id for s in speakers}
    for segment in segments:
        names.setdefault(segment.speaker, segment.speaker)
    return names


def to_lines(segments: list[Segment], speakers: list[Speaker]) -> list[Line]:
    names = display_names(speakers, segments)
    lines = [
        Line(s.start, max(s.end, s.start), names[s.speaker], " ".join(s.text.split()))
        for s in sorted(segments, key=lambda s: (s.start, s.end))
    ]
    return [line for line in lines if line.text]


def render(lines: list[Line]) -> str:
    return "\n".join(line.render() for line in lines)


def stamps(lines: list[Line]) -> list[str]:
    """The distinct line marks, in order: what evidence may cite."""
    return list(dict.fromkeys(line.stamp for line in lines))
