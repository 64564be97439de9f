"""Pins what `write_minutes` sends to the LLM and what it makes of the answers, without a model.

A fake engine records every call (task, answer budget, messages, schema) and answers with JSON
built from the schema, sometimes cut off so the retry and the salvage run too. The recordings
of a few meetings (one call, map → reduce, split tasks, no topics, nested reduce) are compared
with `golden/writer.json`: a refactor of the writer must leave the prompts byte-identical, or
quality figures measured with them no longer hold.

Regenerate (only for an intended prompt change): MINUTA_WRITE_GOLDEN=1 pytest <this file>.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest

from core.results import Segment, Speaker, Topic
from ml_controller.llm.base import ChatMessage, EngineUsage, LLMError
from ml_controller.minutes.ask import RETRY_RESERVE, prompt_tokens
from ml_controller.minutes.plan import plan, prompt_room, whole_meeting
from ml_controller.minutes.prompts import Part, chunk_messages
from ml_controller.minutes.transcript import to_lines
from ml_controller.minutes.writer import write_minutes
from ml_controller.settings import MLSettings
from tests.ml_controller.minutes.meetings import Meeting, qmsum, synthetic

GOLDEN = Path(__file__).parent / "golden" / "writer.json"


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:12], 16)


class RecordingEngine:
    """Answers every call with schema-valid JSON chosen by a hash of the prompt."""

    name = "recording"

    def __init__(self) -> None:
        self.usage = EngineUsage()
        self.calls: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def count_tokens(self, text: str) -> int:
        # About four characters a token, as a BPE tokenizer gives on prose.
        return len(text) // 4 + 1

    def complete_json(
        self,
        messages: list[ChatMessage],
        schema: dict[str, Any],
        *,
        max_tokens: int,
        task: str = "minutes",
    ) -> str:
        # The seed comes from the original prompt, so the retry of a call is told apart by
        # its extra messages alone.
        seed = _digest("\n".join(m.content for m in messages[:2]))
        retry = len(messages) > 2
        answer = json.dumps(_value(schema, seed, ""), ensure_ascii=False)
        if (not retry and seed % 3 == 0) or (retry and seed % 9 == 0):
            answer = answer[: len(answer) * 2 // 3]  # cut off, as at the token limit
        with self._lock:
            self.calls.append(
                {
                    "task": task,
                    "max_tokens": max_tokens,
                    "messages": [[m.role, m.content] for m in messages],
                    # Schemas run long (every line mark is an enum value): a digest pins them.
                    "schema": hashlib.sha256(
                        json.dumps(schema, ensure_ascii=False, sort_keys=True).encode()
                    ).hexdigest(),
                }
            )
        self.usage.add(
            sum(self.count_tokens(m.content) for m in messages), self.count_tokens(answer), 0.0
        )
        return answer


_WORDS = ["budget", "remote", "release", "design", "price", "battery", "chairs", "guide"]


def _text(key: str, seed: int) -> str:
    word = _WORDS[seed % len(_WORDS)]
    if key == "title":
        return f"The {word} plan"
    if key == "summary":
        # A repeated sentence, as small models write, so tidying runs too.
        return f"They discussed the {word}. They agreed on {seed % 97}. They discussed the {word}."
    if key == "task":
        return f"Check the {word} by {'Friday' if seed % 2 else 'the 15th'}"
    if key == "due":
        return "Friday" if seed % 2 else "next week"
    return f"We decide to change the {word} {seed % 13}."


def _value(schema: dict[str, Any], seed: int, key: str) -> Any:
    if "enum" in schema:
        return schema["enum"][seed % len(schema["enum"])]
    if "anyOf" in schema:
        return None if seed % 4 == 0 else _value(schema["anyOf"][0], seed, key)
    kind = schema.get("type")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: _value(sub, seed // (i + 2) + i, k) for i, (k, sub) in enumerate(props.items())}
    if kind == "array":
        count = schema.get("minItems") or min(schema.get("maxItems", 3), 1 + seed % 3)
        return [_value(schema.get("items", {}), seed // (i + 3) + i, key) for i in range(count)]
    return _text(key, seed)


def _settings(**changes: Any) -> MLSettings:
    base: dict[str, Any] = {
        "llm_context": 8192,
        "llm_max_tokens": 1024,
        "llm_map_max_tokens": 512,
        "llm_min_words": 25,
        "llm_split_tasks": False,
        "llm_concurrency": 1,
    }
    return MLSettings(**(base | changes))


def _run(meeting: Meeting, **changes: Any) -> dict[str, Any]:
    engine = RecordingEngine()
    try:
        outcome = write_minutes(
            meeting.segments,
            meeting.topics,
            meeting.speakers,
            meeting.language,
            meeting.duration,
            engine,
            _settings(**changes),
        )
    except LLMError as exc:
        return {"error": str(exc), "calls": engine.calls}
    return {
        "calls": engine.calls,
        "minutes": outcome.minutes.model_dump(mode="json"),
        "outcome": {
            "mode": outcome.mode,
            "parts": outcome.parts,
            "map_calls": outcome.map_calls,
            "reduce_calls": outcome.reduce_calls,
            "llm_calls": outcome.llm_calls,
            "prompt_tokens": outcome.prompt_tokens,
            "completion_tokens": outcome.completion_tokens,
            "repairs": outcome.repairs,
            "salvaged": outcome.salvaged,
            "fixes": asdict(outcome.fixes),
        },
    }


def _named(meeting: Meeting) -> Meeting:
    """The meeting with names for its first two speakers, as after enrolment."""
    names = ["Anna Petrova", "Boris"]
    speakers = [
        Speaker(id=s.id, name=names[i] if i < len(names) else None)
        for i, s in enumerate(meeting.speakers)
    ]
    return Meeting(meeting.segments, meeting.topics, speakers, meeting.language, meeting.duration)


def _untopiced(meeting: Meeting) -> Meeting:
    return Meeting(meeting.segments, [], meeting.speakers, meeting.language, meeting.duration)


def _scenarios(data_dir: Path) -> dict[str, dict[str, Any]]:
    en = synthetic(data_dir, "synth_en_meeting")
    ru = synthetic(data_dir, "synth_ru_meeting")
    long = qmsum(data_dir, "TS3010a")
    few = Meeting(
        [Segment(start=0.0, end=2.0, speaker="S1", text="Hello, can you hear me?")],
        [Topic(start=0.0, end=2.0)],
        [Speaker(id="S1")],
        "en",
        2.0,
    )
    return {
        "en_single": _run(en),
        "en_single_named_no_topics": _run(_untopiced(_named(en))),
        "en_single_split_tasks": _run(en, llm_split_tasks=True),
        "ru_single": _run(_named(ru)),
        "ru_map_reduce": _run(ru, llm_context=1000, llm_map_max_tokens=200),
        "long_map_reduce": _run(long, llm_context=2048, llm_map_max_tokens=256),
        "long_map_reduce_split_tasks": _run(
            long, llm_context=2048, llm_map_max_tokens=256, llm_split_tasks=True
        ),
        "long_map_reduce_no_topics": _run(
            _untopiced(long), llm_context=1800, llm_map_max_tokens=200
        ),
        # Notes too long for one reduce call: reduced in groups, or cut down when they pair up.
        "long_nested_reduce": _run(long, llm_context=1000, llm_map_max_tokens=160),
        "long_reduce_of_shortened_notes": _run(long, llm_context=1000, llm_map_max_tokens=128),
        "context_too_small": _run(long, llm_context=900, llm_map_max_tokens=256),
        "next_to_nothing_said": _run(few),
    }


def _ordered(result: dict[str, Any]) -> dict[str, Any]:
    # Parallel map calls finish in any order; what each call was sent is what is pinned.
    calls = sorted(result["calls"], key=lambda c: json.dumps(c, ensure_ascii=False))
    return result | {"calls": calls}


def test_prompts_and_minutes_match_the_golden_recording(data_dir: Path) -> None:
    got = {name: _ordered(result) for name, result in _scenarios(data_dir).items()}
    if os.environ.get("MINUTA_WRITE_GOLDEN") == "1":
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(json.dumps(got, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert sorted(got) == sorted(want)
    for name in want:
        assert len(got[name]["calls"]) == len(want[name]["calls"]), name
        for i, (a, b) in enumerate(zip(got[name]["calls"], want[name]["calls"], strict=True)):
            assert a == b, f"{name}: call {i} differs"
        assert got[name] == want[name], name


def test_the_recording_covers_every_path() -> None:
    want = json.loads(GOLDEN.read_text(encoding="utf-8"))
    outcomes = {name: r.get("outcome", {}) for name, r in want.items()}
    assert outcomes["en_single"]["mode"] == "single"
    assert outcomes["next_to_nothing_said"]["mode"] == "empty"
    assert "error" in want["context_too_small"]
    for name in ("ru_map_reduce", "long_map_reduce", "long_map_reduce_no_topics"):
        assert outcomes[name]["mode"] == "map_reduce" and outcomes[name]["parts"] >= 2, name
    # More reduce calls than one: the notes were summarized in groups first.
    assert outcomes["long_nested_reduce"]["reduce_calls"] > 1
    assert any(o.get("repairs") for o in outcomes.values())
    assert any(o.get("salvaged") for o in outcomes.values())
    assert {c["task"] for c in want["long_map_reduce_split_tasks"]["calls"]} == {
        "topics",
        "action-items",
        "summary",
    }


@pytest.mark.parametrize("concurrency", [1, 3])
def test_parallel_map_calls_change_nothing(data_dir: Path, concurrency: int) -> None:
    long = qmsum(data_dir, "TS3010a")
    result = _run(long, llm_context=2048, llm_map_max_tokens=256, llm_concurrency=concurrency)
    assert _ordered(result) == _ordered(_run(long, llm_context=2048, llm_map_max_tokens=256))


def test_one_budget_decides_one_call_or_parts(data_dir: Path) -> None:
    meeting = synthetic(data_dir, "synth_en_meeting")
    lines = to_lines(meeting.segments, meeting.speakers)
    owners = [s.id for s in meeting.speakers]
    engine = RecordingEngine()
    whole = chunk_messages(whole_meeting(lines, meeting.topics), "en", owners)
    # The context that just holds the whole meeting's prompt, its answer and the retry's reserve.
    fits = prompt_tokens(engine, whole) + 1024 + RETRY_RESERVE
    assert prompt_room(_settings(llm_context=fits), 1024) == prompt_tokens(engine, whole)
    single = plan(lines, meeting.topics, "en", owners, engine, _settings(llm_context=fits))
    assert single.single and single.mode == "single" and single.part(0) is None
    assert single.chunks[0] == whole_meeting(lines, meeting.topics)
    parts = plan(lines, meeting.topics, "en", owners, engine, _settings(llm_context=fits - 1))
    assert not parts.single and parts.max_tokens == 512 and len(parts.chunks) >= 1
    assert [ln for c in parts.chunks for ln in c.lines] == lines
    assert parts.part(0) == Part(1, len(parts.chunks))
    assert engine.calls == [], "planning only measures"
