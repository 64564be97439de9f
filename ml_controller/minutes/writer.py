"""Write the minutes of a transcript with an LLM: one call when it fits, map → reduce otherwise.

Map: each part of the meeting (cut along the topic segments) gets its own draft minutes: topic
titles and summaries, decisions, action items. Reduce: the LLM writes the meeting's title and
summary from the parts' notes, while topics, decisions and action items are merged in code, so a
weak model cannot drop what a part found.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from ml_controller.llm.base import LLMEngine, LLMError
from ml_controller.minutes.ask import RETRY_RESERVE, ask, prompt_tokens
from ml_controller.minutes.chunking import (
    MAX_TOPICS_PER_CHUNK,
    Chunk,
    plan_chunks,
    whole_meeting,
)
from ml_controller.minutes.postprocess import (
    Fixes,
    OwnerResolver,
    PartMinutes,
    merge_topics,
    part_minutes,
    tidy,
    unique_actions,
    unique_decisions,
)
from ml_controller.minutes.prompts import (
    Part,
    PartNotes,
    minutes_messages,
)
from ml_controller.minutes.reduce import Reducer
from ml_controller.minutes.schema import (
    TASK_FIELDS,
    DraftSpec,
    MinutesDraft,
    check_minutes,
    draft_schema,
)
from ml_controller.minutes.transcript import Line, display_names, stamps, to_lines
from ml_controller.settings import MLSettings
from core.results import Minutes, Segment, Speaker, Topic


@dataclass
class MinutesOutcome:
    minutes: Minutes
    mode: str  # "empty" | "single" | "map_reduce"
    parts: int = 0  # map chunks (1 for a single call)
    map_calls: int = 0
    reduce_calls: int = 0
    llm_calls: int = 0  # every engine call, retries included
    prompt_tokens: int = 0  # as the engine counted them
    completion_tokens: int = 0
    llm_seconds: float = 0.0
    seconds: float = 0.0
    repairs: int = 0  # invalid answers fixed by the retry
    salvaged: int = 0  # answers invalid twice, kept in part
    fixes: Fixes = field(default_factory=Fixes)

    @property
    def tokens_per_second(self) -> float:
        return self.completion_tokens / self.llm_seconds if self.llm_seconds > 0 else 0.0


@dataclass
class _Job:
    engine: LLMEngine
    settings: MLSettings
    language: str
    duration: float
    topics: list[Topic]
    owners: OwnerResolver
    outcome: MinutesOutcome
    # Map calls run in threads and count into the same outcome.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def draft(self, chunk: Chunk, part: Part | None, max_tokens: int) -> PartMinutes:
        sectioned = chunk.topics is not None
        spec = DraftSpec(
            language=self.language,
            owners=tuple(self.owners.labels),
            stamps=tuple(stamps(chunk.lines)),
            topic_count=len(chunk.groups) if sectioned else None,
            overall=part is None,
        )
        if not self.settings.llm_split_tasks:
            draft = self._ask(chunk, part, spec, None, "minutes", max_tokens)
        else:
            draft = MinutesDraft(language=self.language)
            for task, fields in TASK_FIELDS.items():
                if part is not None and task == "summary":
                    continue  # a part's summary comes from the reduce step
                answer = self._ask(chunk, part, spec, fields, task, max_tokens)
                draft = draft.combined(answer, fields)
        return part_minutes(draft, chunk, self.topics, self.owners, self.duration)

    def _ask(
        self,
        chunk: Chunk,
        part: Part | None,
        spec: DraftSpec,
        fields: tuple[str, ...] | None,
        task: str,
        max_tokens: int,
    ) -> MinutesDraft:
        sectioned = chunk.topics is not None
        messages = minutes_messages(
            chunk.groups, self.language, self.owners.labels, sectioned, part, fields
        )
        answer = ask(
            self.engine,
            messages,
            draft_schema(spec, fields),
            MinutesDraft,
            max_tokens=max_tokens,
            task=task,
            language=self.language,
        )
        self._count(answer.repaired, answer.salvaged)
        return answer.value

    def _count(self, repaired: bool, salvaged: bool) -> None:
        with self.lock:
            self.outcome.repairs += int(repaired)
            self.outcome.salvaged += int(salvaged)


def _chunk_budget(job: _Job, lines: list[Line]) -> int:
    """Transcript tokens one map call can take: the context minus the frame and the answer."""
    # Headings of the most topic sections a chunk may hold, each around the same probe line.
    probe = [[lines[0]]] * MAX_TOPICS_PER_CHUNK
    frame = prompt_tokens(
        job.engine,
        minutes_messages(probe, job.language, job.owners.labels, True, Part(99, 99)),
    ) - MAX_TOPICS_PER_CHUNK * job.engine.count_tokens(lines[0].render())
    settings = job.settings
    return settings.llm_context - settings.llm_map_max_tokens - RETRY_RESERVE - frame


def _notes(chunk: Chunk, part: PartMinutes) -> PartNotes:
    titles = [t.title for _, t in part.topics if t.title]
    return PartNotes(
        start=chunk.lines[0].start,
        end=chunk.lines[-1].end,
        title="; ".join(titles),
        summary=" ".join(t.summary for _, t in part.topics if t.summary),
        decisions=tuple(part.decisions),
        actions=tuple(f"{a.owner}: {a.task}" for a in part.action_items),
    )


def write_minutes(
    lines: list[Segment],
    topics: list[Topic],
    speakers: list[Speaker],
    language: str,
    duration: float,
    engine: LLMEngine,
    settings: MLSettings,
) -> MinutesOutcome:
    began = time.perf_counter()
    usage_before = engine.usage.snapshot()
    transcript = to_lines(lines, speakers)
    if sum(len(line.text.split()) for line in transcript) < settings.llm_min_words:
        return MinutesOutcome(Minutes.empty(language), "empty")
    if duration <= 0:
        duration = max(line.end for line in transcript)
    topics = sorted(topics, key=lambda t: (t.start, t.end))
    owners = OwnerResolver(display_names(speakers, lines))
    outcome = MinutesOutcome(Minutes.empty(language), "single")
    job = _Job(engine, settings, language, duration, topics, owners, outcome)

    whole = whole_meeting(transcript, topics)
    needed = prompt_tokens(
        engine, minutes_messages(whole.groups, language, owners.labels, whole.topics is not None)
    )
    if needed + settings.llm_max_tokens + RETRY_RESERVE <= settings.llm_context:
        part = job.draft(whole, None, settings.llm_max_tokens)
        outcome.parts = 1
        outcome.minutes = Minutes(
            language=language,
            title=part.title,
            summary=part.summary,
            topics=merge_topics(part.topics, duration, language),
            decisions=unique_decisions(part.decisions),
            action_items=unique_actions(part.action_items),
        )
        outcome.fixes.add(part.fixes)
    else:
        outcome.mode = "map_reduce"
        budget = _chunk_budget(job, transcript)
        if budget < 64:
            raise LLMError(
                f"MINUTA_LLM_CONTEXT={settings.llm_context} leaves no room for the transcript "
                f"next to the prompt and a {settings.llm_map_max_tokens}-token answer"
            )
        chunks = plan_chunks(transcript, topics, budget, engine.count_tokens)
        outcome.parts = len(chunks)
        workers = max(1, min(settings.llm_concurrency, len(chunks)))
        with ThreadPoolExecutor(max_workers=workers) as pool:
            parts = list(
                pool.map(
                    lambda ic: job.draft(
                        ic[1], Part(ic[0], len(chunks)), settings.llm_map_max_tokens
                    ),
                    enumerate(chunks, 1),
                )
            )
        outcome.map_calls = len(chunks)
        for part in parts:
            outcome.fixes.add(part.fixes)
        notes = [_notes(c, p) for c, p in zip(chunks, parts, strict=True)]
        reducer = Reducer(engine, settings, language)
        summary = reducer.summarize(notes)
        outcome.reduce_calls = reducer.calls
        outcome.repairs += reducer.repairs
        outcome.salvaged += reducer.salvaged
        outcome.minutes = Minutes(
            language=language,
            title=tidy(summary.title) or next((n.title for n in notes if n.title), ""),
            summary=tidy(summary.summary) or " ".join(n.summary for n in notes if n.summary),
            topics=merge_topics([t for p in parts for t in p.topics], duration, language),
            decisions=unique_decisions([d for p in parts for d in p.decisions]),
            action_items=unique_actions([a for p in parts for a in p.action_items]),
        )
    check_minutes(outcome.minutes)
    used = engine.usage.since(usage_before)
    outcome.llm_calls = used.calls
    outcome.prompt_tokens = used.prompt_tokens
    outcome.completion_tokens = used.completion_tokens
    outcome.llm_seconds = round(used.seconds, 3)
    outcome.seconds = round(time.perf_counter() - began, 3)
    return outcome
