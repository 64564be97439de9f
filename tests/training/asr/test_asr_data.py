"""The asr-data stage on real recordings with the packaged Whisper base (shared fixture)."""

from __future__ import annotations

from pathlib import Path

from ml_controller.types import AsrSegment
from training.asr.config import ASRDataConfig
from training.asr.manifest import read_manifest
from training.asr.pseudo_label import PseudoLabel, clips, find_audio
from training.report import StageReport

from .conftest import EN_FILES, RU_FILES


def test_manifest_has_a_clip_per_recording_with_language_and_times(
    asr_data_run: tuple[ASRDataConfig, StageReport],
) -> None:
    _, report = asr_data_run
    rows = read_manifest(Path(report.artifacts["manifest"]))
    by_file = {Path(r.audio).name: r for r in rows}
    assert set(by_file) == set(EN_FILES) | set(RU_FILES)
    assert {by_file[f].language for f in EN_FILES} == {"en"}
    assert {by_file[f].language for f in RU_FILES} == {"ru"}
    for row in rows:
        assert 0 <= row.start < row.end <= 30.0
        assert row.text.strip()
        assert row.needs_review == bool(row.flags)
    assert "ask not what your country can do for you" in by_file["jfk.flac"].text
    review = read_manifest(Path(report.artifacts["review"]))
    assert review == [r for r in rows if r.needs_review]
    assert report.metrics["clips"] == len(rows)
    assert report.metrics["clips_to_review"] == len(review)


def test_pseudo_label_wer_is_measured_against_the_references(
    asr_data_run: tuple[ASRDataConfig, StageReport],
) -> None:
    _, report = asr_data_run
    assert report.metrics["referenced_files"] == len(EN_FILES) + len(RU_FILES)
    # Whisper base: English near perfect, Russian readable (../shared/MODELS.md).
    wer_en, wer_ru = report.metrics["pseudo_label_wer_en"], report.metrics["pseudo_label_wer_ru"]
    assert isinstance(wer_en, float) and wer_en < 0.15
    assert isinstance(wer_ru, float) and 0.0 < wer_ru < 0.6
    assert report.timings["real_time_factor"] > 0


def test_find_audio_walks_folders_and_rejects_missing_paths(data_dir: Path) -> None:
    found = find_audio([data_dir / "audio" / "asr_ru"])
    assert [p.suffix for p in found] == [".wav"] * len(found)
    assert any(p.name == "pisets_test_sound_ru.wav" for p in found)
    try:
        find_audio([data_dir / "nope.wav"])
    except FileNotFoundError as exc:
        assert "nope.wav" in str(exc)
    else:
        raise AssertionError("a missing input must raise")


def test_segments_merge_into_clips_up_to_the_limit_and_split_at_pauses() -> None:
    def seg(start: float, end: float) -> AsrSegment:
        return AsrSegment(start=start, end=end, text=f" {start:g}")

    label = PseudoLabel(
        audio=Path("m.wav"),
        language="ru",
        duration=90.0,
        segments=[seg(0, 8), seg(8.5, 16), seg(16.2, 27), seg(27.5, 33), seg(40, 45)],
    )
    got = [(c.start, c.end, c.text) for c in clips(label, max_seconds=28.0)]
    assert got == [(0, 27, "0 8.5 16.2"), (27.5, 33, "27.5"), (40, 45, "40")]
