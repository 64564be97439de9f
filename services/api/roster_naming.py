"""Which diarized speaker is which meeting participant, from the platform's speaking timeline.

A bot records who the meeting page showed as speaking when (`ParticipantTimeline`); the worker
says which speaker label spoke when (the result's segments). A label gets a participant's
display name only when the evidence is clear: enough seconds of overlap, most of the label's
overlapped time with that one participant, one label per name and one name per label, and never
the bot's own name. Pure functions: the database side is services/api/platform_naming.py.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from core.results import Segment
from services.bots.contracts import ParticipantTimeline

# At least this many seconds of a label's speech inside the participant's speaking spans...
MIN_OVERLAP_SECONDS = 2.0
# ...and at least this share of the label's time overlapped with any participant.
MIN_SHARE = 0.5
# A person's name is at most this long (persons.name).
MAX_NAME_LENGTH = 200

Interval = tuple[float, float]


@dataclass(frozen=True)
class RosterMatch:
    label: str
    name: str
    overlap: float  # seconds of the label's speech while the participant was shown speaking
    share: float  # overlap / the label's overlap with every participant, in [0, 1]


def _union(intervals: Iterable[Interval]) -> list[Interval]:
    """Sorted, non-overlapping intervals (a span reported twice must not count twice)."""
    merged: list[Interval] = []
    for start, end in sorted(i for i in intervals if i[1] > i[0]):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _overlap(a: Sequence[Interval], b: Sequence[Interval]) -> float:
    """Seconds two sorted unions share (a two-pointer walk)."""
    total, i, j = 0.0, 0, 0
    while i < len(a) and j < len(b):
        total += max(0.0, min(a[i][1], b[j][1]) - max(a[i][0], b[j][0]))
        if a[i][1] < b[j][1]:
            i += 1
        else:
            j += 1
    return total


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def participant_spans(
    timeline: ParticipantTimeline, bot_name: str | None = None
) -> dict[str, list[Interval]]:
    """Each participant's speaking time (names tidied, the bot's own name left out)."""
    spans: defaultdict[str, list[Interval]] = defaultdict(list)
    for span in timeline.speaking:
        name = " ".join(span.name.split())[:MAX_NAME_LENGTH]
        if not name or (bot_name and _same_name(name, bot_name)):
            continue
        spans[name].append((span.start, span.end))
    return {name: _union(found) for name, found in spans.items()}


def overlaps(
    segments: Iterable[Segment], spans: dict[str, list[Interval]]
) -> dict[str, dict[str, float]]:
    """label -> participant -> seconds the label spoke while the participant was speaking."""
    by_label: defaultdict[str, list[Interval]] = defaultdict(list)
    for segment in segments:
        by_label[segment.speaker].append((segment.start, segment.end))
    return {
        label: {name: _overlap(_union(times), theirs) for name, theirs in spans.items()}
        for label, times in by_label.items()
    }


def match_roster(
    segments: Iterable[Segment], timeline: ParticipantTimeline, bot_name: str | None = None
) -> list[RosterMatch]:
    """The clear label -> name matches, one-to-one, sorted by label."""
    candidates: list[RosterMatch] = []
    for label, seconds in overlaps(segments, participant_spans(timeline, bot_name)).items():
        ranked = sorted(seconds.items(), key=lambda item: (-item[1], item[0]))
        total = sum(seconds.values())
        if not ranked or total <= 0:
            continue
        (name, best), runner_up = ranked[0], (ranked[1][1] if len(ranked) > 1 else 0.0)
        share = best / total
        # A tie is no evidence either way.
        if best >= MIN_OVERLAP_SECONDS and share >= MIN_SHARE and best > runner_up:
            candidates.append(RosterMatch(label=label, name=name, overlap=best, share=share))
    # One label per name: a participant split into two labels names the one with more overlap
    # (each label has at most one candidate, so greedy by overlap is the best assignment).
    taken: set[str] = set()
    matches: list[RosterMatch] = []
    for match in sorted(candidates, key=lambda m: (-m.overlap, m.label)):
        if match.name.casefold() not in taken:
            taken.add(match.name.casefold())
            matches.append(match)
    return sorted(matches, key=lambda m: m.label)
