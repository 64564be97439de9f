"""`minuta minutes` input: process JSON or a plain list of turns; clear errors otherwise."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from core.results import AudioInfo, MeetingResult, Minutes, Speaker, Topic
from ml_controller.minutes.cli_input import load_transcript
from tests.ml_controller.minutes.meetings import synthetic


def test_process_json_round_trip(tmp_path: Path, data_dir: Path) -> None:
    meeting = synthetic(data_dir, "synth_en_meeting")
    result = MeetingResult(
        audio=AudioInfo(duration=meeting.duration, language="en", source="synth_en_meeting.wav"),
        speakers=[Speaker(id="A", name="Anna"), Speaker(id="B"), Speaker(id="C"), Speaker(id="D")],
        segments=meeting.segments,
        topics=[Topic(start=t.start, end=t.end, title="x") for t in meeting.topics],
        minutes=Minutes.empty("en"),
    )
    path = tmp_path / "meeting.json"
    path.write_text(result.model_dump_json(indent=2))
    segments, topics, speakers, language, duration = load_transcript(path)
    assert [s.text for s in segments] == [
        s.text for s in sorted(meeting.segments, key=lambda s: (s.start, s.end))
    ]
    assert len(topics) == 3 and topics[1].start == pytest.approx(28.989)
    assert speakers[0] == Speaker(id="A", name="Anna")
    assert language == "en" and duration == pytest.approx(meeting.duration)


def test_list_of_turns_with_and_without_times(tmp_path: Path, data_dir: Path) -> None:
    meeting = synthetic(data_dir, "synth_ru_meeting")
    turns: list[dict[str, object]] = []
    for i, s in enumerate(meeting.segments):
        turn: dict[str, object] = {"speaker": s.speaker, "text": s.text}
        if i < 5:
            turn |= {"start": s.start, "end": s.end}
        turns.append(turn)
    path = tmp_path / "turns.json"
    path.write_text(json.dumps(turns, ensure_ascii=False))
    segments, topics, speakers, language, duration = load_transcript(path)
    assert len(segments) == len(meeting.segments) and topics == []
    assert [s.id for s in speakers] == list(dict.fromkeys(s.speaker for s in meeting.segments))
    assert language == "ru", "a Cyrillic transcript is recognised as Russian"
    assert segments[4].end == pytest.approx(meeting.segments[4].end)
    # Untimed turns follow in order, each as long as its words need.
    starts = [s.start for s in segments]
    assert starts == sorted(starts) and segments[5].start == pytest.approx(segments[4].end)
    assert duration == segments[-1].end > meeting.segments[4].end


def test_english_turns_leave_the_language_to_the_caller(tmp_path: Path) -> None:
    path = tmp_path / "t.json"
    path.write_text('[{"speaker": "Anna", "text": "Hello"}, {"speaker": "Boris", "text": "  "}]')
    segments, _, speakers, language, duration = load_transcript(path)
    assert [s.text for s in segments] == ["Hello"], "blank turns are skipped"
    assert [s.id for s in speakers] == ["Anna"] and language is None and duration == 1.0


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('[{"speaker": "A", "text": "hi"', "not valid JSON .* line 1, column"),
        ('{"minutes": {}}', 'without "segments"'),
        ('"just text"', "str without"),
        ('[{"text": "hi"}]', 'turn 0 has no "speaker"'),
        ('[{"speaker": "A", "text": 5}]', 'turn 0 has no "text"'),
        ('[{"speaker": "A", "text": "hi", "start": -1}]', "'start' must be a number"),
        ('[{"speaker": "A", "text": "hi", "start": "0:05"}]', "'start' must be a number"),
        ('[{"speaker": "A", "text": "hi", "start": 5, "end": 2}]', "ends .* before it starts"),
        ('["hello"]', "turn 0 is str, not an object"),
        ('{"segments": [{"speaker": "S1"}]}', "process` output but .*segments.0.start"),
    ],
)
def test_bad_input_says_which_file_what_and_how(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=problem) as caught:
        load_transcript(path)
    message = str(caught.value)
    assert str(path) in message and "minuta process --format json" in message


def test_missing_and_binary_files(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        load_transcript(tmp_path / "absent.json")
    binary = tmp_path / "audio.json"
    binary.write_bytes(b"\xff\xfe\x00RIFF")
    with pytest.raises(ValueError, match="not UTF-8"):
        load_transcript(binary)
