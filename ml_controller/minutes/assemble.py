"""Assemble: the one place the final `Minutes` is built from the mapped parts.

The parts' topics are merged (pieces of one split segment rejoined, sorted, clipped to the
recording, titled), decisions and action items deduplicated. The title and summary come from the
single call, or from the reduce step, falling back to the parts' notes when its answer was
salvaged empty. The result is checked against the published schema.
"""

from __future__ import annotations

import difflib

from core.results import ActionItem, Minutes, MinutesTopic
from ml_controller.minutes.grounding import SENTENCE_END, PartMinutes, clip, tidy
from ml_controller.minutes.prompts import PartNotes
from ml_controller.minutes.schema import SummaryDraft, check_minutes


def assemble(
    parts: list[PartMinutes],
    language: str,
    duration: float,
    overview: SummaryDraft | None = None,
    notes: list[PartNotes] | None = None,
) -> Minutes:
    """The minutes of the meeting from its parts: one part for a single call; with the reduce
    step's `overview` and the `notes` it was written from for a meeting mapped in parts."""
    if overview is None:
        title, summary = parts[0].title, parts[0].summary
    else:
        notes = notes or []
        title = tidy(overview.title) or next((n.title for n in notes if n.title), "")
        summary = tidy(overview.summary) or " ".join(n.summary for n in notes if n.summary)
    minutes = Minutes(
        language=language,
        title=title,
        summary=summary,
        topics=merge_topics([t for p in parts for t in p.topics], duration, language),
        decisions=unique_decisions([d for p in parts for d in p.decisions]),
        action_items=unique_actions([a for p in parts for a in p.action_items]),
    )
    check_minutes(minutes)
    return minutes


def _similar(a: str, b: str, threshold: float) -> bool:
    return difflib.SequenceMatcher(None, a.lower(), b.lower()).ratio() >= threshold


def unique_decisions(decisions: list[str]) -> list[str]:
    kept: list[str] = []
    for decision in decisions:
        if not any(_similar(decision, k, 0.85) for k in kept):
            kept.append(decision)
    return kept


def unique_actions(items: list[ActionItem]) -> list[ActionItem]:
    kept: list[ActionItem] = []
    for item in items:
        if not any(k.owner == item.owner and _similar(k.task, item.task, 0.85) for k in kept):
            kept.append(item)
    return kept


_UNTITLED = {"ru": "Тема {n}", "en": "Topic {n}"}
_TITLE_WORDS = 8


def fallback_title(summary: str, number: int, language: str) -> str:
    """A title for a topic the model left untitled (a cut-off answer): the start of its summary,
    else its number, so no topic reaches the reader without one."""
    words = SENTENCE_END.split(summary.strip(), maxsplit=1)[0].split()
    if words:
        title = " ".join(words[:_TITLE_WORDS]).rstrip(".,;:!?")
        return title + ("…" if len(words) > _TITLE_WORDS else "")
    return _UNTITLED.get(language, _UNTITLED["en"]).format(n=number)


def merge_topics(
    parts: list[tuple[int | None, MinutesTopic]], duration: float, language: str = "en"
) -> list[MinutesTopic]:
    """Pieces of one split segment become one topic again; all sorted, inside the recording,
    and titled."""
    merged: list[tuple[int | None, MinutesTopic]] = []
    for index, topic in sorted(parts, key=lambda p: (p[1].start, p[1].end)):
        if merged and index is not None and merged[-1][0] == index:
            prev = merged[-1][1]
            merged[-1] = (
                index,
                MinutesTopic(
                    title=prev.title or topic.title,
                    start=min(prev.start, topic.start),
                    end=max(prev.end, topic.end),
                    summary=" ".join(s for s in (prev.summary, topic.summary) if s),
                ),
            )
        else:
            merged.append((index, topic))
    out = []
    for number, (_, topic) in enumerate(merged, 1):
        start = clip(topic.start, duration)
        title = topic.title or fallback_title(topic.summary, number, language)
        out.append(
            topic.model_copy(
                update={
                    "title": title,
                    "start": start,
                    "end": max(start, clip(topic.end, duration)),
                }
            )
        )
    return out
