"""Give every recognised word exactly one speaker and group words into transcript lines."""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from ml_controller.types import AsrSegment, Diarization, Segment, Speaker, SpeakerTurn, Word


@dataclass(frozen=True)
class LineRules:
    """When a line ends even though the speaker goes on."""

    max_gap: float = 2.0
    max_seconds: float = 30.0
    soft_seconds: float = 12.0


def _speaker_for(word: Word, turns: list[SpeakerTurn], starts: list[float]) -> str | None:
    """The speaker whose turns overlap the word most; the nearest turn if none overlaps."""
    if not turns:
        return None
    overlap: dict[str, float] = {}
    # Turns are sorted by start; only those starting before the word ends can overlap it.
    hi = bisect.bisect_right(starts, word.end)
    for turn in turns[max(0, hi - 64) : hi]:
        shared = min(turn.end, word.end) - max(turn.start, word.start)
        if shared > 0:
            overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    if overlap:
        return max(overlap.items(), key=lambda kv: kv[1])[0]
    mid = (word.start + word.end) / 2
    lo = max(0, hi - 64)
    nearest = min(
        turns[lo : min(len(turns), hi + 1)] or turns,
        key=lambda t: 0.0 if t.start <= mid <= t.end else min(abs(t.start - mid), abs(t.end - mid)),
    )
    return nearest.speaker


def _words_of(segment: AsrSegment) -> list[Word]:
    if segment.words:
        return [w.model_copy() for w in segment.words]
    # No word timings (e.g. an engine without them): the segment is one unit.
    return [Word(start=segment.start, end=segment.end, word=segment.text)]


def assign_speakers(segments: list[AsrSegment], diarization: Diarization) -> list[Word]:
    """Words in time order, each with one speaker; 'S1' for all when no turn was found."""
    turns = sorted(diarization.turns, key=lambda t: t.start)
    starts = [t.start for t in turns]
    words: list[Word] = []
    for segment in segments:
        for word in _words_of(segment):
            word.speaker = _speaker_for(word, turns, starts) or "S1"
            words.append(word)
    words.sort(key=lambda w: w.start)
    return words


def _join(words: list[Word]) -> str:
    return " ".join(w.word for w in words).strip()


def build_lines(words: list[Word], rules: LineRules | None = None) -> list[Segment]:
    rules = rules or LineRules()
    lines: list[Segment] = []
    current: list[Word] = []

    def flush() -> None:
        if current:
            lines.append(
                Segment(
                    start=current[0].start,
                    end=current[-1].end,
                    speaker=current[0].speaker or "S1",
                    text=_join(current),
                    words=list(current),
                )
            )
            current.clear()

    for word in words:
        if current:
            length = word.end - current[0].start
            sentence_end = current[-1].word.endswith((".", "?", "!", "…"))
            if (
                word.speaker != current[-1].speaker
                or word.start - current[-1].end > rules.max_gap
                or length > rules.max_seconds
                or (length > rules.soft_seconds and sentence_end)
            ):
                flush()
        current.append(word)
    flush()
    return lines


def renumber_speakers(lines: list[Segment]) -> tuple[list[Segment], list[Speaker]]:
    """Labels S1, S2, ... in order of first speech, keeping only speakers who said something."""
    mapping: dict[str, str] = {}
    for line in lines:
        if line.speaker not in mapping:
            mapping[line.speaker] = f"S{len(mapping) + 1}"
    for line in lines:
        line.speaker = mapping[line.speaker]
        for word in line.words:
            word.speaker = line.speaker
    return lines, [Speaker(id=label) for label in mapping.values()]
