"""WER/CER of the packaged Whisper base on real references, in the one StageReport format."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.eval.asr import ASREvalConfig, error_rates, read_references, run_asr_eval


def test_error_rates_normalise_case_and_punctuation() -> None:
    rates = error_rates(["Hello, World!", "ёлка стоит"], ["hello world", "елка стоит там"])
    assert rates.wer == pytest.approx(1 / 4)
    assert rates.utterances == 2 and rates.reference_words == 4
    assert 0 < rates.cer < rates.wer
    with pytest.raises(ValueError, match="no non-empty reference"):
        error_rates([" ... "], ["x"])


def test_references_file_and_manifest_rows_are_both_read(data_dir: Path, tmp_path: Path) -> None:
    items, notes = read_references(data_dir / "audio" / "asr_en" / "references.jsonl")
    assert all(item.audio.is_file() for item in items)
    assert any("stereo_diarization.wav" in note for note in notes)
    manifest = tmp_path / "m.jsonl"
    row = {"audio": "clip.wav", "start": 1.0, "end": 2.0, "text": "hi", "language": "en"}
    manifest.write_text(json.dumps(row) + "\n", encoding="utf-8")
    [item], _ = read_references(manifest)
    assert item.audio == tmp_path / "clip.wav" and (item.start, item.end) == (1.0, 2.0)


def test_packaged_base_is_scored_on_real_english_and_russian(
    data_dir: Path, tmp_path: Path
) -> None:
    audio = data_dir / "audio"
    picked = [
        ("asr_en", "jfk.flac", None, None),
        # A manifest-style clip: only the first 2.7 s of the TIMIT sentence.
        ("asr_en", "LDC93S1.wav", 0.0, 2.9),
        ("asr_ru", "pisets_test_sound_ru.wav", None, None),
    ]
    refs = {
        json.loads(line)["file"]: json.loads(line)
        for folder in ("asr_en", "asr_ru")
        for line in (audio / folder / "references.jsonl").read_text(encoding="utf-8").splitlines()
        if line.strip()
    }
    references = tmp_path / "references.jsonl"
    with references.open("w", encoding="utf-8") as sink:
        for folder, name, start, end in picked:
            row = {
                "audio": str(audio / folder / name),
                "text": refs[name]["text"],
                "language": refs[name]["language"],
                "start": start,
                "end": end,
            }
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
    report = run_asr_eval(ASREvalConfig(references=references, output_dir=tmp_path / "out"))
    assert report.stage == "asr-eval"
    assert report.metrics["utterances"] == 3
    wer_en, wer_ru = report.metrics["wer_en"], report.metrics["wer_ru"]
    assert isinstance(wer_en, float) and wer_en < 0.15
    assert isinstance(wer_ru, float) and wer_ru < 0.7
    assert report.timings["real_time_factor"] > 0
    transcripts = Path(report.artifacts["transcripts"]).read_text(encoding="utf-8").splitlines()
    jfk = json.loads(transcripts[0])
    assert "ask not what your country can do for you" in jfk["hypothesis"]
