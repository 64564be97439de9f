"""`minuta` as a user runs it: a real process, real models, real files."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _minuta(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


def _no_traceback(run: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in run.stderr, run.stderr


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    run = _minuta("process", str(tmp_path / "meeting.m4a"))
    assert run.returncode == 2
    assert "meeting.m4a: no such file" in run.stderr
    _no_traceback(run)


def test_text_file_and_unknown_language_are_clear_errors(tmp_path: Path, data_dir: Path) -> None:
    fake = tmp_path / "minutes.m4a"
    fake.write_text("not audio at all\n" * 100)
    run = _minuta("process", str(fake))
    assert run.returncode == 2 and "not an audio or video file" in run.stderr
    _no_traceback(run)
    run = _minuta("process", str(data_dir / "audio/asr_en/jfk.flac"), "--language", "xx")
    assert run.returncode == 2 and "unknown language 'xx'" in run.stderr
    _no_traceback(run)


def test_silence_gives_empty_minutes_not_invented_text(data_dir: Path) -> None:
    run = _minuta("process", str(data_dir / "audio/pyannote_debug/empty.wav"), "-f", "json", "-q")
    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["segments"] == [] and result["speakers"] == [] and result["topics"] == []
    minutes = result["minutes"]
    assert minutes["summary"] == "" and minutes["decisions"] == [] and minutes["action_items"] == []
    assert "no speech" in run.stderr


def test_srt_output_file_with_speakers_and_progress_bars(data_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sample.srt"
    run = _minuta(
        "process",
        str(data_dir / "audio/pyannote_sample/sample.wav"),
        "-f",
        "srt",
        "-o",
        str(out),
        "--no-minutes",
        "--num-speakers",
        "2",
    )
    assert run.returncode == 0, run.stderr
    for stage in ("decode", "speech detection", "transcription", "speakers", "topics", "minutes"):
        assert stage in run.stderr
    srt = out.read_text()
    assert srt.startswith("1\n00:00:")
    assert "S1: " in srt and "S2: " in srt


def test_minutes_command_on_a_transcript_file(data_dir: Path, tmp_path: Path) -> None:
    ref = json.loads(
        (data_dir / "synthetic_meetings/synth_ru_meeting/synth_ru_meeting.ref.json").read_text()
    )
    turns = [
        {"speaker": t["speaker"], "text": t["text"], "start": t["start"], "end": t["end"]}
        for t in ref["turns"]
    ]
    transcript = tmp_path / "transcript.json"
    transcript.write_text(json.dumps(turns, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "minutes.json"
    run = _minuta("minutes", str(transcript), "-o", str(out), "--language", "ru")
    assert run.returncode == 0, run.stderr
    _no_traceback(run)
    minutes = json.loads(out.read_text(encoding="utf-8"))
    assert minutes["language"] == "ru"
    assert sum("а" <= ch.lower() <= "я" for ch in minutes["summary"]) > 20
    speakers = {t["speaker"] for t in turns}
    end = max(t["end"] for t in turns)
    for item in minutes["action_items"]:
        assert item["owner"] in speakers
        assert 0 <= item["evidence"]["start"] <= item["evidence"]["end"] <= end

    # Two greetings are not a meeting: empty minutes, nothing invented.
    hello = tmp_path / "hello.json"
    hello.write_text(json.dumps([{"speaker": "Анна", "text": "Алло, меня слышно?"}]))
    run = _minuta("minutes", str(hello))
    assert run.returncode == 0, run.stderr
    empty = json.loads(run.stdout)
    assert empty["summary"] == "" and empty["action_items"] == [] and empty["topics"] == []
