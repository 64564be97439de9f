"""Reduce: the meeting's title and summary, written by the LLM from notes on the mapped parts.

Notes that do not fit one call are summarized in groups first, then the groups' summaries,
so any number of parts fits any context that holds a few notes. Topics, decisions and action
items are merged in code when the minutes are assembled, so a weak model cannot drop what a part
found.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ml_controller.llm.base import ChatMessage, LLMEngine, LLMError
from ml_controller.minutes.ask import Asker, prompt_tokens
from ml_controller.minutes.grounding import PartMinutes
from ml_controller.minutes.plan import prompt_room
from ml_controller.minutes.prompts import PartNotes, reduce_messages
from ml_controller.minutes.schema import SummaryDraft, summary_schema
from ml_controller.minutes.transcript import Chunk
from ml_controller.settings import MLSettings


def part_notes(chunk: Chunk, part: PartMinutes) -> PartNotes:
    """What the reduce step reads about one mapped part."""
    return PartNotes(
        start=chunk.lines[0].start,
        end=chunk.lines[-1].end,
        title="; ".join(t.title for _, t in part.topics if t.title),
        summary=" ".join(t.summary for _, t in part.topics if t.summary),
        decisions=tuple(part.decisions),
        actions=tuple(f"{a.owner}: {a.task}" for a in part.action_items),
    )


@dataclass
class Reducer:
    engine: LLMEngine
    settings: MLSettings
    language: str
    ask: Asker = field(init=False)

    def __post_init__(self) -> None:
        self.ask = Asker(self.engine, self.language)

    @property
    def budget(self) -> int:
        """Prompt tokens one reduce call may use; it answers in a map call's budget."""
        return prompt_room(self.settings, self.settings.llm_map_max_tokens)

    def summarize(self, notes: list[PartNotes]) -> SummaryDraft:
        messages = reduce_messages(notes, self.language)
        if prompt_tokens(self.engine, messages) <= self.budget:
            return self._call(messages)
        groups = self.groups(notes)
        if len(groups) == 1:
            return self._call(reduce_messages(self._shrunk(notes), self.language))
        merged = []
        for group in groups:
            result = self.summarize(group)
            merged.append(PartNotes(group[0].start, group[-1].end, result.title, result.summary))
        return self.summarize(merged)

    def groups(self, notes: list[PartNotes]) -> list[list[PartNotes]]:
        """Consecutive notes per call; never one alone, so each level has fewer notes."""
        frame = prompt_tokens(self.engine, reduce_messages([], self.language))
        groups: list[list[PartNotes]] = []
        used = 0
        for note in notes:
            cost = prompt_tokens(self.engine, reduce_messages([note], self.language)) - frame
            if groups and used + cost <= self.budget - frame:
                groups[-1].append(note)
                used += cost
            else:
                groups.append([note])
                used = cost
        # A note alone in its group joins the next group (or the one before, at the end).
        paired: list[list[PartNotes]] = []
        for group in groups:
            if paired and len(paired[-1]) == 1:
                paired[-1].extend(group)
            else:
                paired.append(group)
        if len(paired) > 1 and len(paired[-1]) == 1:
            paired[-2].extend(paired.pop())
        return paired

    def _shrunk(self, notes: list[PartNotes]) -> list[PartNotes]:
        """Notes cut down to titles and shortened summaries until they fit one call."""
        share = 2000
        while share > 40:
            cut = [PartNotes(n.start, n.end, n.title[:200], n.summary[:share]) for n in notes]
            if prompt_tokens(self.engine, reduce_messages(cut, self.language)) <= self.budget:
                return cut
            share //= 2
        raise LLMError(
            f"the context of {self.settings.llm_context} tokens cannot hold the notes on "
            f"{len(notes)} parts; raise MINUTA_LLM_CONTEXT"
        )

    def _call(self, messages: list[ChatMessage]) -> SummaryDraft:
        return self.ask(
            messages,
            summary_schema(self.language),
            SummaryDraft,
            max_tokens=self.settings.llm_map_max_tokens,
            task="summary",
        )
