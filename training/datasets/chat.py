"""QMSum → chat examples in the product's own prompt and answer format.

Whole QMSum meetings run to thousands of words, too long to train on a CPU, so each example is
one query's relevant transcript span (a few hundred words) and the reference answer to that
query. The prompt is exactly what the product sends for its "summary" task
(`minutes_messages` with `TASK_FIELDS["summary"]`), and the target is the JSON the product's
constrained decoder would write for it: compact, keys in schema order, no `\\u` escapes. The
title is the QMSum topic whose span overlaps the query's span most.

QMSum has no times: each utterance lasts its word count at 150 words per minute, counted from the
start of the meeting (as in benchmarks/minutes_quality.py), so `[mm:ss]` marks look like a real
meeting's.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ml_controller.llm.base import ChatMessage
from ml_controller.minutes.prompts import minutes_messages
from ml_controller.minutes.schema import TASK_FIELDS, DraftSpec
from ml_controller.minutes.transcript import Line, stamps
from training.jsonl import iter_jsonl

WORDS_PER_SECOND = 2.5  # 150 words per minute
LANGUAGE = "en"  # QMSum is English
TASK = "summary"


@dataclass(frozen=True)
class ChatExample:
    """One prompt and the answer the model should learn to write for it."""

    meeting_id: str
    query: str
    messages: list[ChatMessage]
    target: str  # the JSON answer
    reference: str  # the reference summary alone, for ROUGE / BERTScore
    spec: DraftSpec  # what the answer's schema is built from
    words: int  # transcript words in the prompt


def clean(text: str) -> str:
    """Drop QMSum's {disfmarker}/{vocalsound}/... tags and collapse spaces."""
    return re.sub(r"\s+", " ", re.sub(r"\{[^}]*\}", " ", text)).strip()


def _spans(raw: list[list[str]], count: int) -> list[tuple[int, int]]:
    out = []
    for a, b in raw:
        lo, hi = sorted((int(a), int(b)))
        hi = min(hi, count - 1)
        if lo <= hi:
            out.append((lo, hi))
    return out


def _overlap(a: list[tuple[int, int]], b: list[tuple[int, int]]) -> int:
    return sum(max(0, min(x1, y1) - max(x0, y0) + 1) for x0, x1 in a for y0, y1 in b)


def _title(topics: list[dict[str, object]], spans: list[tuple[int, int]], count: int) -> str:
    best, best_overlap = "", 0
    for topic in topics:
        raw = topic.get("relevant_text_span")
        overlap = _overlap(spans, _spans(raw, count)) if isinstance(raw, list) else 0
        if overlap > best_overlap:
            best, best_overlap = str(topic.get("topic", "")).strip(), overlap
    return best[:1].upper() + best[1:]


def target_json(title: str, summary: str) -> str:
    """The answer as the product's constrained decoder writes it (schema key order, compact)."""
    answer = {"language": LANGUAGE, "title": title, "summary": summary}
    return json.dumps(answer, ensure_ascii=False, separators=(",", ":"))


def meeting_examples(row: dict[str, object]) -> Iterator[ChatExample]:
    """Every specific query of one QMSum meeting with a span, as a "summary" task example."""
    utterances = row["meeting_transcripts"]
    queries = row["specific_query_list"]
    topics = row.get("topic_list") or []
    assert isinstance(utterances, list) and isinstance(queries, list) and isinstance(topics, list)
    texts = [clean(str(u["content"])) for u in utterances]
    speakers = [str(u["speaker"]).strip() for u in utterances]
    starts: list[float] = []
    clock = 0.0
    for text in texts:
        starts.append(clock)
        clock += max(1, len(text.split())) / WORDS_PER_SECOND
    meeting_id = str(row["id"])
    for query in queries:
        spans = _spans(query.get("relevant_text_span") or [], len(texts))
        answer = " ".join(str(query.get("answer", "")).split())
        if not spans or not answer:
            continue
        lines = [
            Line(starts[i], starts[i] + len(texts[i].split()) / WORDS_PER_SECOND, speakers[i],
                 texts[i])
            for lo, hi in sorted(spans)
            for i in range(lo, hi + 1)
            if texts[i]
        ]  # fmt: skip
        if not lines:
            continue
        owners = list(dict.fromkeys(line.speaker for line in lines))
        fields = TASK_FIELDS[TASK]
        messages = minutes_messages([lines], LANGUAGE, owners, False, None, fields)
        title = _title(topics, spans, len(texts)) or str(query["query"]).strip()
        yield ChatExample(
            meeting_id=meeting_id,
            query=str(query["query"]).strip(),
            messages=messages,
            target=target_json(title, answer),
            reference=answer,
            spec=DraftSpec(LANGUAGE, tuple(owners), tuple(stamps(lines)), topic_count=None),
            words=sum(len(line.text.split()) for line in lines),
        )


def load_examples(
    path: Path, min_words: int = 0, max_words: int | None = None
) -> list[ChatExample]:
    """All examples of a QMSum JSONL file whose transcript span has min..max words."""
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: QMSum file not found; point the config's data_dir at ../shared/data "
            "(or a copy with summarization/qmsum_{train,val}.jsonl)"
        )
    out: list[ChatExample] = []
    for _, row in iter_jsonl(path):
        for example in meeting_examples(row):
            if example.words >= min_words and (max_words is None or example.words <= max_words):
                out.append(example)
    return out


def is_dev_meeting(meeting_id: str, dev_fraction: float) -> bool:
    """A fixed share of meetings, chosen by a hash of the id: stable across runs and machines."""
    digest = hashlib.sha256(meeting_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") / 2**32 < dev_fraction


def split_by_meeting(
    examples: list[ChatExample], dev_fraction: float
) -> tuple[list[ChatExample], list[ChatExample]]:
    """(train, dev): every example of a meeting on the same side, so dev loss is held out."""
    train = [e for e in examples if not is_dev_meeting(e.meeting_id, dev_fraction)]
    dev = [e for e in examples if is_dev_meeting(e.meeting_id, dev_fraction)]
    return train, dev


def round_robin(examples: list[ChatExample], limit: int) -> list[ChatExample]:
    """Up to `limit` examples taken one meeting at a time, so a few come from many meetings."""
    by_meeting: dict[str, list[ChatExample]] = {}
    for example in examples:
        by_meeting.setdefault(example.meeting_id, []).append(example)
    queues = [by_meeting[key] for key in sorted(by_meeting)]
    out: list[ChatExample] = []
    depth = 0
    while len(out) < limit and any(depth < len(q) for q in queues):
        out += [q[depth] for q in queues if depth < len(q)][: limit - len(out)]
        depth += 1
    return out
