"""Minutes from real transcripts with the packaged Qwen2.5-Coder-1.5B on llama.cpp.

The model is small: these tests check what must hold whatever it writes (schema, owners,
evidence, language, coverage), not the wording.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from core.results import Minutes, Segment, Speaker
from ml_controller.minutes.schema import check_minutes
from ml_controller.minutes.writer import MinutesOutcome, write_minutes
from tests.ml_controller.llm.engines import llm_settings, shared_llama_engine
from tests.ml_controller.minutes.meetings import Meeting, qmsum, synthetic


def _write(meeting: Meeting, **settings: object) -> MinutesOutcome:
    config = llm_settings(**settings)
    return write_minutes(
        meeting.segments,
        meeting.topics,
        meeting.speakers,
        meeting.language,
        meeting.duration,
        shared_llama_engine(),
        config,
    )


def _assert_grounded(minutes: Minutes, meeting: Meeting) -> None:
    check_minutes(minutes)
    speakers = {s.name or s.id for s in meeting.speakers}
    for item in minutes.action_items:
        assert item.owner in speakers
        assert 0 <= item.evidence.start <= item.evidence.end <= meeting.duration
        assert item.task
    starts = [t.start for t in minutes.topics]
    assert starts == sorted(starts)
    assert all(0 <= t.start <= t.end <= meeting.duration for t in minutes.topics)


def _cyrillic_share(text: str) -> float:
    letters = [ch for ch in text if ch.isalpha()]
    return sum(1 for ch in letters if "\u0400" <= ch <= "\u04ff") / max(1, len(letters))


@pytest.fixture(scope="module")
def english(data_dir: Path) -> tuple[Meeting, MinutesOutcome]:
    meeting = synthetic(data_dir, "synth_en_meeting")
    return meeting, _write(meeting)


def test_english_meeting_in_one_call(english: tuple[Meeting, MinutesOutcome]) -> None:
    meeting, outcome = english
    minutes = outcome.minutes
    _assert_grounded(minutes, meeting)
    # One call; a second only if the first answer ran past its token budget (seen once in
    # ten runs: the model listed action items until it hit the limit).
    assert outcome.mode == "single" and outcome.llm_calls == 1 + outcome.repairs + outcome.salvaged
    assert minutes.language == "en"
    assert minutes.title and len(minutes.summary.split()) >= 10
    assert _cyrillic_share(minutes.summary) == 0
    # One topic per reference segment, spanning it.
    assert [(t.start, t.end) for t in minutes.topics] == [
        (pytest.approx(r.start, abs=0.3), pytest.approx(r.end, abs=0.3)) for r in meeting.topics
    ]
    assert all(t.title for t in minutes.topics)
    # The price is the meeting's main subject; any fair summary names it.
    text = " ".join([minutes.summary, *(t.summary for t in minutes.topics)]).lower()
    assert "price" in text or "euro" in text or "pound" in text
    assert outcome.prompt_tokens > 1000 and outcome.completion_tokens > 50


def test_russian_meeting_gives_russian_minutes(data_dir: Path) -> None:
    meeting = synthetic(data_dir, "synth_ru_meeting")
    outcome = _write(meeting)
    minutes = outcome.minutes
    _assert_grounded(minutes, meeting)
    assert minutes.language == "ru" and outcome.mode == "single"
    everything = " ".join(
        [minutes.title, minutes.summary, *minutes.decisions]
        + [t.title + " " + t.summary for t in minutes.topics]
        + [a.task for a in minutes.action_items]
    )
    assert _cyrillic_share(minutes.summary) > 0.8
    assert _cyrillic_share(everything) > 0.8


def test_long_meeting_goes_map_reduce_and_keeps_every_part(data_dir: Path) -> None:
    # QMSum TS3010a: ~2.8k tokens of transcript cannot fit a 2048-token context with the prompt.
    meeting = qmsum(data_dir, "TS3010a")
    outcome = _write(meeting, llm_context=2048, llm_map_max_tokens=256)
    minutes = outcome.minutes
    _assert_grounded(minutes, meeting)
    assert outcome.mode == "map_reduce"
    assert outcome.parts >= 3 and outcome.map_calls == outcome.parts
    assert outcome.reduce_calls >= 1
    assert minutes.title and len(minutes.summary.split()) >= 10
    # The three annotated topics, end to end: nothing past the context was dropped.
    assert len(minutes.topics) == len(meeting.topics) == 3
    assert minutes.topics[0].start == pytest.approx(meeting.segments[0].start)
    assert minutes.topics[-1].end == pytest.approx(meeting.segments[-1].end)
    for before, after in zip(minutes.topics, minutes.topics[1:], strict=False):
        assert after.start - before.end < 1.0
    assert all(t.summary for t in minutes.topics)


def test_nothing_or_next_to_nothing_said_means_no_llm_call() -> None:
    engine = shared_llama_engine()
    calls = engine.usage.calls
    silent = [Segment(start=1.0, end=2.0, speaker="S1", text="   ")]
    greeting = [
        Segment(start=1.0, end=2.5, speaker="S1", text="Алло, меня слышно?"),
        Segment(start=3.0, end=4.0, speaker="S2", text="Да, слышно. Начинаем через минуту."),
    ]
    for segments in ([], silent, greeting):
        outcome = write_minutes(
            segments, [], [Speaker(id="S1"), Speaker(id="S2")], "ru", 10.0, engine, llm_settings()
        )
        assert outcome.minutes == Minutes.empty("ru") and outcome.mode == "empty"
    assert engine.usage.calls == calls
