"""Plan: the whole meeting in one call when its prompt fits, else the chunks to map over.

One token budget for every call (`prompt_room`): the context less the answer and the retry's
reserve. Chunks are cut along the topic segments, and every line lands in exactly one: lines
outside all segments go to the nearest one, a segment too long for one chunk is split between
lines, and a line too long on its own is split between words. Short neighbouring segments share
a chunk to save calls.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from core.results import Topic
from ml_controller.llm.base import LLMEngine, LLMError
from ml_controller.minutes.ask import RETRY_RESERVE, prompt_tokens
from ml_controller.minutes.prompts import Part, chunk_messages
from ml_controller.minutes.transcript import Chunk, Line, TopicSpan
from ml_controller.settings import MLSettings

MAX_TOPICS_PER_CHUNK = 6
# Fewer transcript tokens per chunk than this is no plan, only a context set too small.
_MIN_CHUNK_TOKENS = 64


def prompt_room(settings: MLSettings, max_tokens: int) -> int:
    """Prompt tokens a call may take: the context less its answer and the retry's reserve."""
    return settings.llm_context - max_tokens - RETRY_RESERVE


@dataclass(frozen=True)
class Plan:
    chunks: list[Chunk]  # in meeting order; one, the whole meeting, for a single call
    single: bool  # the whole meeting in one call: no parts, no reduce step
    max_tokens: int  # the answer budget of each map call

    @property
    def mode(self) -> str:
        return "single" if self.single else "map_reduce"

    def part(self, index: int) -> Part | None:
        """Where chunk `index` (0-based) sits in the meeting; None for a single call."""
        return None if self.single else Part(index + 1, len(self.chunks))


def plan(
    lines: list[Line],
    topics: list[Topic],
    language: str,
    owners: list[str],
    engine: LLMEngine,
    settings: MLSettings,
) -> Plan:
    """One call if the whole meeting's prompt fits next to its answer, else chunks that do."""
    whole = whole_meeting(lines, topics)
    needed = prompt_tokens(engine, chunk_messages(whole, language, owners))
    if needed <= prompt_room(settings, settings.llm_max_tokens):
        return Plan([whole], single=True, max_tokens=settings.llm_max_tokens)
    budget = prompt_room(settings, settings.llm_map_max_tokens) - _frame(
        lines[0], language, owners, engine
    )
    if budget < _MIN_CHUNK_TOKENS:
        raise LLMError(
            f"MINUTA_LLM_CONTEXT={settings.llm_context} leaves no room for the transcript "
            f"next to the prompt and a {settings.llm_map_max_tokens}-token answer"
        )
    chunks = plan_chunks(lines, topics, budget, engine.count_tokens)
    return Plan(chunks, single=False, max_tokens=settings.llm_map_max_tokens)


def _frame(line: Line, language: str, owners: list[str], engine: LLMEngine) -> int:
    """Tokens of a part's prompt besides its transcript lines, for the most topic sections a
    chunk may hold (their headings), measured around copies of one probe line."""
    probe = Chunk(
        [[line]] * MAX_TOPICS_PER_CHUNK,
        [TopicSpan(0, line.start, line.end)] * MAX_TOPICS_PER_CHUNK,
    )
    messages = chunk_messages(probe, language, owners, Part(99, 99))
    return prompt_tokens(engine, messages) - MAX_TOPICS_PER_CHUNK * engine.count_tokens(
        line.render()
    )


def assign(lines: list[Line], topics: list[Topic]) -> list[list[Line]]:
    """Lines per topic, by each line's midpoint; a line in no topic joins the nearest one."""
    groups: list[list[Line]] = [[] for _ in topics]
    for line in lines:
        mid = (line.start + line.end) / 2

        def distance(topic: Topic, mid: float = mid) -> float:
            return max(topic.start - mid, mid - topic.end, 0.0)

        best = min(range(len(topics)), key=lambda i: (distance(topics[i]), i))
        groups[best].append(line)
    return groups


def whole_meeting(lines: list[Line], topics: list[Topic]) -> Chunk:
    """All lines as one chunk, sectioned by the topic segments that have any."""
    if not topics:
        return Chunk([lines], None)
    found = [
        (i, t, g) for i, (t, g) in enumerate(zip(topics, assign(lines, topics), strict=True)) if g
    ]
    return Chunk(
        [g for _, _, g in found],
        [TopicSpan(i, min(t.start, g[0].start), max(t.end, g[-1].end)) for i, t, g in found],
    )


def split_line(line: Line, budget: int, count: Callable[[str], int]) -> list[Line]:
    """Pieces of one line, each within `budget` tokens, times shared out by word count."""
    words = line.text.split()
    pieces = max(2, math.ceil(count(line.render()) / max(1, budget)))
    while True:
        size = math.ceil(len(words) / pieces)
        groups = [words[i : i + size] for i in range(0, len(words), size)]
        span = line.end - line.start
        out: list[Line] = []
        done = 0
        for group in groups:
            a = line.start + span * done / len(words)
            done += len(group)
            b = line.start + span * done / len(words)
            out.append(Line(a, b, line.speaker, " ".join(group)))
        if size == 1 or all(count(p.render()) + 1 <= budget for p in out):
            return out
        pieces *= 2


def _pack(lines: list[Line], costs: list[int], budget: int) -> list[list[Line]]:
    """Consecutive runs of lines within budget, of even size (no stub of a few lines at the end).

    Every line is already within budget on its own.
    """
    pieces = math.ceil(sum(costs) / budget)
    target = math.ceil(sum(costs) / pieces)
    runs: list[list[Line]] = []
    run: list[Line] = []
    used = 0
    for line, cost in zip(lines, costs, strict=True):
        if run and (used + cost > budget or used >= target):
            runs.append(run)
            run, used = [], 0
        run.append(line)
        used += cost
    if run:
        runs.append(run)
    return runs


def _fitted(
    lines: list[Line], budget: int, count: Callable[[str], int]
) -> tuple[list[Line], list[int]]:
    out: list[Line] = []
    costs: list[int] = []
    for line in lines:
        cost = count(line.render()) + 1
        if cost <= budget:
            out.append(line)
            costs.append(cost)
            continue
        for piece in split_line(line, budget, count):
            out.append(piece)
            costs.append(count(piece.render()) + 1)
    return out, costs


def plan_chunks(
    lines: list[Line],
    topics: list[Topic],
    budget: int,
    count: Callable[[str], int],
) -> list[Chunk]:
    """Parts of at most `budget` transcript tokens each, in meeting order."""
    if budget <= 0:
        raise ValueError(f"no room for the transcript in the context (budget {budget} tokens)")
    if not topics:
        fitted, costs = _fitted(lines, budget, count)
        return [Chunk([run], None) for run in _pack(fitted, costs, budget)]

    chunks: list[Chunk] = []
    pending: list[tuple[TopicSpan, list[Line]]] = []
    pending_cost = 0

    def flush() -> None:
        nonlocal pending, pending_cost
        if pending:
            chunks.append(Chunk([group for _, group in pending], [s for s, _ in pending]))
        pending, pending_cost = [], 0

    for index, (topic, group) in enumerate(zip(topics, assign(lines, topics), strict=True)):
        if not group:
            continue  # nothing was said in it: nothing to summarize
        fitted, costs = _fitted(group, budget, count)
        cost = sum(costs)
        start = min(topic.start, fitted[0].start)
        end = max(topic.end, fitted[-1].end)
        if cost <= budget:
            if pending_cost + cost > budget or len(pending) >= MAX_TOPICS_PER_CHUNK:
                flush()
            pending.append((TopicSpan(index, start, end), fitted))
            pending_cost += cost
            continue
        flush()
        for run in _pack(fitted, costs, budget):
            chunks.append(Chunk([run], [TopicSpan(index, run[0].start, run[-1].end)]))
    flush()
    return chunks
