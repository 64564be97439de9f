"""The whole embedded pipeline on real multi-speaker audio with the packaged models."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from core.contracts import SpeakerHints
from core.export import render
from core.results import MeetingResult
from ml_controller.pipeline import MeetingPipeline, ProcessOptions
from ml_controller.types import PipelineOutput


@pytest.fixture(scope="module")
def pipeline() -> MeetingPipeline:
    return MeetingPipeline()


@pytest.fixture(scope="module")
def processed(pipeline: MeetingPipeline, data_dir: Path) -> PipelineOutput:
    path = data_dir / "synthetic_meetings/synth_en_meeting/synth_en_meeting.wav"
    return pipeline.process_with_voices(path, ProcessOptions())


@pytest.fixture(scope="module")
def english(processed: PipelineOutput) -> MeetingResult:
    return processed.result


def test_every_word_has_exactly_one_known_speaker(english: MeetingResult) -> None:
    labels = {s.id for s in english.speakers}
    words = [w for s in english.segments for w in s.words]
    assert len(words) > 200
    assert all(w.speaker in labels for w in words)
    assert all(w.speaker == s.speaker for s in english.segments for w in s.words)
    # 4 voices in the reference; the automatic count undercounts robotic TTS voices (2 found,
    # see the README's DER table), but a meeting is never collapsed into one speaker.
    assert 2 <= len(labels) <= 5


def test_topics_cover_the_meeting_in_order(english: MeetingResult) -> None:
    topics = english.topics
    assert topics, "a 2.7-minute meeting with 3 reference topics gives at least one topic"
    assert topics[0].start <= english.segments[0].start + 1
    assert topics[-1].end >= english.segments[-1].end - 1
    assert all(a.end <= b.start + 1e-6 for a, b in itertools.pairwise(topics))


def test_minutes_are_schema_valid_with_real_owners(english: MeetingResult) -> None:
    minutes = english.minutes
    assert minutes.language == "en"
    assert len(minutes.summary.split()) >= 5
    labels = {s.id for s in english.speakers} | {s.name for s in english.speakers if s.name}
    for item in minutes.action_items:
        assert item.owner in labels
        assert 0 <= item.evidence.start < item.evidence.end <= english.audio.duration + 1


def test_timings_cover_every_stage(english: MeetingResult) -> None:
    assert set(english.timings) == {
        "decode",
        "speech detection",
        "transcription",
        "speakers",
        "topics",
        "minutes",
    }


def test_every_speaker_has_a_unit_voiceprint_apart_from_the_result(
    processed: PipelineOutput,
) -> None:
    english, voiceprints = processed.result, processed.voiceprints
    # Voiceprints come under the transcript's renumbered labels, for exactly its speakers.
    assert set(voiceprints.vectors) == {s.id for s in english.speakers}
    # CAM++ vectors, and they say which embedder made them.
    assert voiceprints.embedding_schema == "campplus-192-v1"
    for vector in voiceprints.vectors.values():
        assert len(vector) == 192
        assert abs(sum(x * x for x in vector) - 1.0) < 1e-4
    exported = render(english, "json")
    assert "voiceprint" not in exported


def test_speaker_count_hint_is_obeyed(pipeline: MeetingPipeline, data_dir: Path) -> None:
    result = pipeline.process(
        data_dir / "audio/pyannote_sample/sample.wav",
        ProcessOptions(speakers=SpeakerHints(num_speakers=2), with_minutes=False),
    )
    assert len(result.speakers) == 2
    assert result.audio.language == "en"


def test_russian_meeting_gives_russian_minutes(pipeline: MeetingPipeline, data_dir: Path) -> None:
    result = pipeline.process(
        data_dir / "synthetic_meetings/synth_ru_meeting/synth_ru_meeting.wav",
        ProcessOptions(language="ru"),
    )
    assert result.audio.language == "ru"
    minutes = result.minutes
    assert minutes.language == "ru"
    # Whisper base garbles espeak's Russian (WER 93 %), so from this transcript the model may
    # well leave one field empty; what it does write must be Russian.
    text = " ".join(
        [minutes.title, minutes.summary, *minutes.decisions]
        + [f"{t.title} {t.summary}" for t in minutes.topics]
        + [item.task for item in minutes.action_items]
    )
    letters = sum(1 for ch in text if ch.isalpha())
    spoken = " ".join(s.text for s in result.segments)
    assert sum(1 for ch in spoken if "а" <= ch.lower() <= "я") > 0.5 * sum(
        1 for ch in spoken if ch.isalpha()
    ), spoken
    if len(spoken.split()) < pipeline.settings.llm_min_words:
        # By design no LLM call below MINUTA_LLM_MIN_WORDS (seeded, this file's garbled
        # transcript lands there): empty minutes, still marked Russian.
        assert letters == 0, minutes
        return
    assert letters >= 10, f"the minutes are next to empty: {minutes}"
    assert sum(1 for ch in text if "а" <= ch.lower() <= "я") > 0.5 * letters
