"""Map: one draft of the minutes per chunk of the plan, checked against the chunk's lines.

The whole meeting and each part of a long one get the same prompt (`chunk_messages`): one call,
or one per task when every task has its own model (`llm_split_tasks`). A part's title and
summary are left to the reduce step. Chunks are drafted in parallel, up to `llm_concurrency`.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from core.results import Topic
from ml_controller.minutes.ask import Asker
from ml_controller.minutes.grounding import OwnerResolver, PartMinutes, part_minutes
from ml_controller.minutes.plan import Plan
from ml_controller.minutes.prompts import Part, chunk_messages
from ml_controller.minutes.schema import TASK_FIELDS, DraftSpec, MinutesDraft, draft_schema
from ml_controller.minutes.transcript import Chunk, stamps


@dataclass(frozen=True)
class Mapper:
    """What every map call of one meeting shares."""

    ask: Asker
    owners: OwnerResolver
    topics: list[Topic]  # the meeting's segments, sorted; chunks refer to them by index
    duration: float
    split_tasks: bool

    def map(self, planned: Plan, concurrency: int) -> list[PartMinutes]:
        """The checked draft of each chunk, in the plan's order."""
        jobs = [(chunk, planned.part(i)) for i, chunk in enumerate(planned.chunks)]
        workers = max(1, min(concurrency, len(jobs)))
        if workers == 1:
            return [self.draft(chunk, part, planned.max_tokens) for chunk, part in jobs]
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(lambda job: self.draft(job[0], job[1], planned.max_tokens), jobs))

    def draft(self, chunk: Chunk, part: Part | None, max_tokens: int) -> PartMinutes:
        spec = DraftSpec(
            language=self.ask.language,
            owners=tuple(self.owners.labels),
            stamps=tuple(stamps(chunk.lines)),
            topic_count=len(chunk.groups) if chunk.sectioned else None,
            overall=part is None,
        )
        if not self.split_tasks:
            draft = self._call(chunk, part, spec, None, "minutes", max_tokens)
        else:
            draft = MinutesDraft(language=self.ask.language)
            for task, fields in TASK_FIELDS.items():
                if part is not None and task == "summary":
                    continue  # a part's summary comes from the reduce step
                answer = self._call(chunk, part, spec, fields, task, max_tokens)
                draft = draft.combined(answer, fields)
        return part_minutes(draft, chunk, self.topics, self.owners, self.duration)

    def _call(
        self,
        chunk: Chunk,
        part: Part | None,
        spec: DraftSpec,
        fields: tuple[str, ...] | None,
        task: str,
        max_tokens: int,
    ) -> MinutesDraft:
        messages = chunk_messages(chunk, self.ask.language, self.owners.labels, part, fields)
        schema = draft_schema(spec, fields)
        return self.ask(messages, schema, MinutesDraft, max_tokens=max_tokens, task=task)
