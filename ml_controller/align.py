"""Give every recognised word exactly one speaker and group words into transcript lines.

Speaker-true words: each word takes the speaker whose turns cover most of it, so a change of
speaker never falls inside a word. Optional rules (`BOUNDARY_RULES`) move changes to where people
seem to change: a change inside a phrase (no pause between the two words) moves to the best
nearby word boundary (a pause, a sentence end), and a one- or two-word blip of another speaker in
the middle of a phrase goes back to the speaker around it. They are OFF by default: on the
synthetic EN meeting (the only recording here with word-level speaker truth) they raised cpWER
from 35.2 % to 42.1 % with CAM++ diarization, whose boundaries are already where the words
change; they may help a weaker diarization (benchmarks/cpwer.py measures both).

Overlapping speech: when another speaker's words come while the current speaker's turn goes on
(the diarization has both active), they form a line of their own and the current line continues
around them, so the two lines overlap in time instead of one being cut in two.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass

from core.results import Segment, Speaker, Word
from ml_controller.types import AsrSegment, Diarization, SpeakerTurn

_SENTENCE_END = (".", "?", "!", "…")


@dataclass(frozen=True)
class LineRules:
    """When a line ends even though the speaker goes on."""

    max_gap: float = 2.0
    max_seconds: float = 30.0
    soft_seconds: float = 12.0


@dataclass(frozen=True)
class WordRules:
    """How far speaker changes may move to a word boundary, and what counts as a blip.
    The defaults move nothing (see the module docstring); `BOUNDARY_RULES` turns both on."""

    # A gap between words at least this long is a pause: a change there stays where it is.
    pause: float = 0.3
    # A change inside a phrase moves by at most this many words and seconds (0: never).
    max_shift_words: int = 0
    max_shift_seconds: float = 2.5
    # A run of at most this many words (and seconds) of another speaker, with no pause on
    # either side, inside one speaker's phrase is a diarization blip (0: none is).
    blip_words: int = 0
    blip_seconds: float = 1.0


BOUNDARY_RULES = WordRules(max_shift_words=4, blip_words=2)


def _covering(word: Word, turns: list[SpeakerTurn], starts: list[float]) -> list[SpeakerTurn]:
    # Turns are sorted by start; only those starting before the word ends can overlap it.
    hi = bisect.bisect_right(starts, word.end)
    return [
        turn
        for turn in turns[max(0, hi - 64) : hi]
        if min(turn.end, word.end) - max(turn.start, word.start) > 0
    ]


def _overlaps(word: Word, turns: list[SpeakerTurn], starts: list[float]) -> dict[str, float]:
    overlap: dict[str, float] = {}
    for turn in _covering(word, turns, starts):
        shared = min(turn.end, word.end) - max(turn.start, word.start)
        overlap[turn.speaker] = overlap.get(turn.speaker, 0.0) + shared
    return overlap


def _speaker_for(word: Word, turns: list[SpeakerTurn], starts: list[float]) -> str | None:
    """The speaker whose turns overlap the word most; the nearest turn if none overlaps.

    In overlapped speech two speakers may both cover the word fully; then the one with the
    shorter turn there said it (a short turn that coincides with a word is that word's speaker,
    while the long one goes on underneath)."""
    if not turns:
        return None
    covering = _covering(word, turns, starts)
    if covering:
        overlap = _overlaps(word, turns, starts)
        most = max(overlap.values())
        close = [t for t in covering if overlap[t.speaker] >= 0.9 * most]
        return min(close, key=lambda t: (t.end - t.start, t.start)).speaker
    mid = (word.start + word.end) / 2
    hi = bisect.bisect_right(starts, word.end)
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


def assign_speakers(
    segments: list[AsrSegment], diarization: Diarization, rules: WordRules | None = None
) -> list[Word]:
    """Words in time order, each with one speaker; 'S1' for all when no turn was found."""
    rules = rules or WordRules()
    turns = sorted(diarization.turns, key=lambda t: t.start)
    starts = [t.start for t in turns]
    words: list[Word] = []
    for segment in segments:
        for word in _words_of(segment):
            word.speaker = _speaker_for(word, turns, starts) or "S1"
            words.append(word)
    words.sort(key=lambda w: w.start)
    _absorb_blips(words, rules)
    _move_changes_to_boundaries(words, rules)
    return words


def _gap(words: list[Word], i: int) -> float:
    """The pause between word i and word i + 1."""
    return words[i + 1].start - words[i].end


def _runs(words: list[Word]) -> list[tuple[int, int]]:
    """[start, stop) index ranges of consecutive words of one speaker."""
    runs: list[tuple[int, int]] = []
    start = 0
    for i in range(1, len(words) + 1):
        if i == len(words) or words[i].speaker != words[start].speaker:
            runs.append((start, i))
            start = i
    return runs


def _absorb_blips(words: list[Word], rules: WordRules) -> None:
    runs = _runs(words)
    for (a0, _), (b0, b1), (c0, _) in zip(runs, runs[1:], runs[2:], strict=False):
        if words[a0].speaker != words[c0].speaker:
            continue
        short = (
            b1 - b0 <= rules.blip_words
            and words[b1 - 1].end - words[b0].start <= rules.blip_seconds
        )
        unbroken = _gap(words, b0 - 1) < rules.pause and _gap(words, b1 - 1) < rules.pause
        if short and unbroken:
            for word in words[b0:b1]:
                word.speaker = words[a0].speaker


def _boundary_score(words: list[Word], i: int) -> float:
    """How good a place the boundary after word i is for a change of speaker."""
    sentence = 0.5 if words[i].word.strip().endswith(_SENTENCE_END) else 0.0
    return _gap(words, i) + sentence


def _move_changes_to_boundaries(words: list[Word], rules: WordRules) -> None:
    for i in range(len(words) - 1):
        before, after = words[i].speaker, words[i + 1].speaker
        if before == after or _gap(words, i) >= rules.pause:
            continue
        change_time = words[i].end
        best, best_score = i, _boundary_score(words, i)
        lo = max(0, i - rules.max_shift_words)
        hi = min(len(words) - 2, i + rules.max_shift_words)
        for j in range(lo, hi + 1):
            # Only within the two speakers' runs around the change, and near it in time.
            span = words[min(i, j) + 1 : max(i, j) + 1]
            if any(w.speaker not in (before, after) for w in span):
                continue
            if abs(words[j].end - change_time) > rules.max_shift_seconds:
                continue
            score = _boundary_score(words, j)
            if score >= rules.pause and score > best_score:
                best, best_score = j, score
        if best < i:
            for word in words[best + 1 : i + 1]:
                word.speaker = after
        elif best > i:
            for word in words[i + 1 : best + 1]:
                word.speaker = before


def _join(words: list[Word]) -> str:
    return " ".join(w.word for w in words).strip()


def _interjections(words: list[Word], diarization: Diarization | None) -> set[int]:
    """Indices of words spoken over another speaker whose turn goes on around them."""
    if diarization is None:
        return set()
    turns = sorted(diarization.turns, key=lambda t: t.start)
    starts = [t.start for t in turns]
    marked: set[int] = set()
    runs = _runs(words)
    for (a0, _), (b0, b1), (c0, _) in zip(runs, runs[1:], runs[2:], strict=False):
        host = words[a0].speaker
        if host is None or words[c0].speaker != host:
            continue
        # The host's turn must cover the interjection's words: both were talking.
        if all(_overlaps(w, turns, starts).get(host, 0.0) > 0 for w in words[b0:b1]):
            marked.update(range(b0, b1))
    return marked


def build_lines(
    words: list[Word], rules: LineRules | None = None, diarization: Diarization | None = None
) -> list[Segment]:
    """Lines of consecutive words of one speaker, sorted by start. With `diarization`, words
    spoken over a speaker who goes on become their own line overlapping that speaker's."""
    rules = rules or LineRules()
    aside = _interjections(words, diarization)
    main = [w for i, w in enumerate(words) if i not in aside]
    lines = _lines(main, rules)
    side = [w for i, w in enumerate(words) if i in aside]
    lines += _lines(side, rules)
    lines.sort(key=lambda line: (line.start, line.end))
    return lines


def _lines(words: list[Word], rules: LineRules) -> list[Segment]:
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
            sentence_end = current[-1].word.endswith(_SENTENCE_END)
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
