"""Write the minutes of a transcript with an LLM: plan → map → reduce → assemble.

Plan (`plan`): the whole meeting in one call when it fits the context, else chunks along the
topic segments. Map (`map`): a checked draft per chunk. Reduce (`reduce`): the meeting's title
and summary from notes on the parts, for a meeting mapped in parts. Assemble (`assemble`): the
final `Minutes`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from core.results import Minutes, Segment, Speaker, Topic
from ml_controller.llm.base import LLMEngine
from ml_controller.minutes.ask import Asker
from ml_controller.minutes.assemble import assemble
from ml_controller.minutes.grounding import Fixes, OwnerResolver
from ml_controller.minutes.map import Mapper
from ml_controller.minutes.plan import plan
from ml_controller.minutes.reduce import Reducer, part_notes
from ml_controller.minutes.transcript import display_names, to_lines
from ml_controller.settings import MLSettings


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

    planned = plan(transcript, topics, language, owners.labels, engine, settings)
    mapper = Mapper(Asker(engine, language), owners, topics, duration, settings.llm_split_tasks)
    parts = mapper.map(planned, settings.llm_concurrency)
    outcome = MinutesOutcome(Minutes.empty(language), planned.mode, parts=len(parts))
    if planned.single:
        outcome.minutes = assemble(parts, language, duration)
    else:
        notes = [part_notes(c, p) for c, p in zip(planned.chunks, parts, strict=True)]
        reducer = Reducer(engine, settings, language)
        overview = reducer.summarize(notes)
        outcome.map_calls = len(parts)
        outcome.reduce_calls = reducer.ask.calls
        outcome.repairs += reducer.ask.repairs
        outcome.salvaged += reducer.ask.salvaged
        outcome.minutes = assemble(parts, language, duration, overview, notes)
    outcome.repairs += mapper.ask.repairs
    outcome.salvaged += mapper.ask.salvaged
    for part in parts:
        outcome.fixes.add(part.fixes)

    used = engine.usage.since(usage_before)
    outcome.llm_calls = used.calls
    outcome.prompt_tokens = used.prompt_tokens
    outcome.completion_tokens = used.completion_tokens
    outcome.llm_seconds = round(used.seconds, 3)
    outcome.seconds = round(time.perf_counter() - began, 3)
    return outcome
