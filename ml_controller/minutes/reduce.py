"""The reduce step of a long meeting: its title and summary from the notes on its parts.

Notes that do not fit one call are summarized in groups first, then the groups' summaries,
so any number of parts fits any context that holds a few notes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ml_controller.llm.base import ChatMessage, LLMEngine, LLMError
from ml_controller.minutes.ask import RETRY_RESERVE, ask, prompt_tokens
from ml_controller.minutes.prompts import PartNotes, reduce_messages
from ml_controller.minutes.schema import SummaryDraft, summary_schema
from ml_controller.settings import MLSettings


@dataclass
class Reducer:
    engine: LLMEngine
    settings: MLSettings
    language: str
    calls: int = 0
    repairs: int = 0
    salvaged: int = 0

    @property
    def budget(self) -> int:
        """Prompt tokens one reduce call may use."""
        return self.settings.llm_context - self.settings.llm_map_max_tokens - RETRY_RESERVE

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
        answer = ask(
            self.engine,
            messages,
            summary_schema(self.language),
            SummaryDraft,
            max_tokens=self.settings.llm_map_max_tokens,
            task="summary",
            language=self.language,
        )
        self.calls += 1
        self.repairs += int(answer.repaired)
        self.salvaged += int(answer.salvaged)
        return answer.value
