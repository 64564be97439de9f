"""A chunk's draft checked against the chunk's lines: what the map step hands on.

Owners must be speakers, evidence must point at lines that exist, a deadline must have been said.
What cannot be checked is kept as is.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field

from core.results import ActionItem, Evidence, MinutesTopic, Topic
from ml_controller.minutes.schema import DraftActionItem, MinutesDraft
from ml_controller.minutes.transcript import Chunk, Line, parse_stamp

# Words that carry no date by themselves ("by next Friday" is grounded by "Friday").
_DUE_FILLER = {
    "the", "by", "next", "this", "end", "of", "on", "until", "till", "before", "after", "at",
    "in", "to", "within", "day", "days", "no", "later", "than", "latest",
    "до", "к", "в", "во", "на", "следующей", "следующий", "следующую", "этой", "этот", "эту",
    "конца", "конец", "не", "позднее", "позже", "чем", "течение", "через",
}  # fmt: skip


@dataclass
class Fixes:
    """What post-validation changed, for benchmarks and logs."""

    owners_remapped: int = 0
    items_dropped: int = 0  # owner matched no speaker
    due_dropped: int = 0  # deadline not said in the transcript
    evidence_moved: int = 0  # evidence time not a line mark of the part

    def add(self, other: Fixes) -> None:
        self.owners_remapped += other.owners_remapped
        self.items_dropped += other.items_dropped
        self.due_dropped += other.due_dropped
        self.evidence_moved += other.evidence_moved


@dataclass
class PartMinutes:
    """The minutes of one chunk, checked; each topic comes with the index of its segment (None
    when the model placed the topic itself)."""

    title: str
    summary: str
    topics: list[tuple[int | None, MinutesTopic]]
    decisions: list[str]
    action_items: list[ActionItem]
    fixes: Fixes = field(default_factory=Fixes)


class OwnerResolver:
    """Maps whatever the model called an owner onto one of the speakers, or gives up."""

    def __init__(self, names: dict[str, str]) -> None:
        self.labels = list(dict.fromkeys(names.values()))
        self._by_lower = {label.lower(): label for label in self.labels}
        # The model may use the S1 label of a speaker whose name is known.
        for speaker_id, label in names.items():
            self._by_lower.setdefault(speaker_id.lower(), label)

    def resolve(self, raw: str) -> str | None:
        text = " ".join(raw.split())
        if text in self.labels:
            return text
        low = text.lower()
        if low in self._by_lower:
            return self._by_lower[low]
        # Part of a full name, or a full name around a known one: "Anna" for "Anna Petrova".
        words = set(re.findall(r"\w+", low))
        partial = set()
        for key, label in self._by_lower.items():
            key_words = set(re.findall(r"\w+", key))
            if words and key_words and (words <= key_words or key_words <= words):
                partial.add(label)
        if len(partial) == 1:
            return partial.pop()
        close = difflib.get_close_matches(low, list(self._by_lower), n=1, cutoff=0.6)
        return self._by_lower[close[0]] if close else None


SENTENCE_END = re.compile(r"(?<=[.!?…])\s+")


def tidy(text: str) -> str:
    """Whitespace collapsed and repeated sentences dropped: small models can loop on a sentence
    until the token limit, and the cut-off answer is still worth keeping without the loop."""
    seen: set[str] = set()
    kept: list[str] = []
    for sentence in SENTENCE_END.split(" ".join(text.split())):
        key = re.sub(r"\W+", " ", sentence.lower()).strip()
        if key and key in seen:
            continue
        seen.add(key)
        kept.append(sentence)
    if len(kept) > 1:
        # A loop cut off mid-sentence leaves the start of a sentence already said.
        tail = re.sub(r"\W+", " ", kept[-1].lower()).strip()
        if any(k != tail and k.startswith(tail) for k in seen):
            kept.pop()
    return " ".join(kept).strip()


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


def due_is_grounded(due: str, transcript_words: set[str]) -> bool:
    """Whether the deadline was said: its numbers verbatim, and some word of it (any ending)."""
    tokens = [t for t in _words(due) if t not in _DUE_FILLER]
    if not tokens:
        return False
    numbers = [t for t in tokens if any(ch.isdigit() for ch in t)]
    if any(n not in transcript_words for n in numbers):
        return False
    words = [t for t in tokens if t.isalpha() and len(t) >= 3]
    if not words:
        return bool(numbers)
    # A 5-letter stem matches inflected forms ("пятницу" for "пятница", "Friday's").
    return any(any(w.startswith(t[:5]) for w in transcript_words) for t in words)


class _Times:
    def __init__(self, lines: list[Line]) -> None:
        self.lines = lines
        self.first: dict[str, Line] = {}
        self.last: dict[str, Line] = {}
        for line in lines:
            self.first.setdefault(line.stamp, line)
            self.last[line.stamp] = line

    def _nearest(self, mark: str) -> Line | None:
        seconds = parse_stamp(mark)
        if seconds is None:
            return None
        return min(self.lines, key=lambda ln: abs(ln.start - seconds))

    def start(self, mark: str) -> tuple[float, bool]:
        line = self.first.get(mark)
        if line is not None:
            return line.start, False
        near = self._nearest(mark)
        return (near.start if near else self.lines[0].start), True

    def end(self, mark: str) -> tuple[float, bool]:
        line = self.last.get(mark)
        if line is not None:
            return line.end, False
        near = self._nearest(mark)
        return (near.end if near else self.lines[-1].end), True


def clip(value: float, duration: float) -> float:
    return round(min(max(value, 0.0), duration), 3)


def _action(
    item: DraftActionItem,
    times: _Times,
    owners: OwnerResolver,
    words: set[str],
    duration: float,
    fixes: Fixes,
) -> ActionItem | None:
    task = tidy(item.task)
    owner = owners.resolve(item.owner)
    if owner is None or not task:
        fixes.items_dropped += 1
        return None
    if owner != item.owner:
        fixes.owners_remapped += 1
    due = " ".join(item.due.split()) if item.due else None
    if due and not due_is_grounded(due, words):
        fixes.due_dropped += 1
        due = None
    start, moved_a = times.start(item.evidence.start)
    end, moved_b = times.end(item.evidence.end)
    if moved_a or moved_b:
        fixes.evidence_moved += 1
    if end < start:
        # The model named the lines in the wrong order; cover both.
        start, end = (
            min(start, times.start(item.evidence.end)[0]),
            max(end, times.end(item.evidence.start)[0]),
        )
    return ActionItem(
        owner=owner,
        task=task,
        due=due or None,
        evidence=Evidence(start=clip(start, duration), end=clip(end, duration)),
    )


def part_minutes(
    draft: MinutesDraft,
    chunk: Chunk,
    topics: list[Topic],
    owners: OwnerResolver,
    duration: float,
) -> PartMinutes:
    fixes = Fixes()
    times = _Times(chunk.lines)
    words = {w for line in chunk.lines for w in _words(line.text)}

    parts: list[tuple[int | None, MinutesTopic]] = []
    if chunk.topics is not None:
        for span, drafted in zip(chunk.topics, draft.topics, strict=False):
            segment = topics[span.index]
            parts.append(
                (
                    span.index,
                    MinutesTopic(
                        title=tidy(drafted.title),
                        start=clip(min(segment.start, span.start), duration),
                        end=clip(max(segment.end, span.end), duration),
                        summary=tidy(drafted.summary),
                    ),
                )
            )
    else:
        starts = sorted(
            {times.start(t.start or "")[0]: t for t in draft.topics}.items(), key=lambda kv: kv[0]
        )
        chunk_start, chunk_end = chunk.lines[0].start, chunk.lines[-1].end
        for i, (begin, drafted) in enumerate(starts):
            # The first topic opens the part, so no line falls outside every topic.
            a = chunk_start if i == 0 else begin
            b = starts[i + 1][0] if i + 1 < len(starts) else chunk_end
            parts.append(
                (
                    None,
                    MinutesTopic(
                        title=tidy(drafted.title),
                        start=clip(a, duration),
                        end=clip(max(a, b), duration),
                        summary=tidy(drafted.summary),
                    ),
                )
            )

    actions = [
        a
        for a in (_action(i, times, owners, words, duration, fixes) for i in draft.action_items)
        if a is not None
    ]
    return PartMinutes(
        title=tidy(draft.title),
        summary=tidy(draft.summary),
        topics=parts,
        decisions=[t for t in map(tidy, draft.decisions) if t],
        action_items=actions,
        fixes=fixes,
    )
