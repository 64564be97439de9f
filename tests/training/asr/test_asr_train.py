"""asr-train end to end on a tiny Whisper built here: review → fine-tune → CT2 → faster-whisper."""

from __future__ import annotations

from pathlib import Path

import pytest
from faster_whisper import WhisperModel

from training.asr.config import ASRDataConfig, ASRTrainConfig
from training.asr.convert import convert_to_ct2
from training.asr.manifest import read_manifest, write_manifest
from training.asr.run import prepared_rows, run_asr_train
from training.report import StageReport


@pytest.fixture(scope="module")
def reviewed(
    asr_data_run: tuple[ASRDataConfig, StageReport], tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A person's review: the first flagged clip corrected and cleared, the others left open."""
    _, report = asr_data_run
    review = read_manifest(Path(report.artifacts["review"]))
    assert review, "the real recordings should leave something to review"
    fixed = review[0].model_copy(
        update={"text": review[0].text + " (checked)", "needs_review": False}
    )
    return write_manifest([fixed], tmp_path_factory.mktemp("review") / "reviewed.jsonl")


@pytest.fixture(scope="module")
def train_run(
    asr_data_run: tuple[ASRDataConfig, StageReport],
    reviewed: Path,
    tiny_whisper: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[ASRTrainConfig, StageReport]:
    _, data_report = asr_data_run
    config = ASRTrainConfig(
        base_model=tiny_whisper,
        manifest=Path(data_report.artifacts["manifest"]),
        reviewed_manifest=reviewed,
        output_dir=tmp_path_factory.mktemp("asr-train"),
        max_steps=8,
        batch_size=2,
        learning_rate=1e-2,
        seed=0,
    )
    return config, run_asr_train(config)


def test_review_decides_which_rows_train(
    train_run: tuple[ASRTrainConfig, StageReport], asr_data_run: tuple[ASRDataConfig, StageReport]
) -> None:
    config, report = train_run
    rows, counts = prepared_rows(config)
    clips, to_review = (asr_data_run[1].metrics[k] for k in ("clips", "clips_to_review"))
    assert isinstance(clips, int) and isinstance(to_review, int)
    assert counts["manifest_rows"] == clips
    # One of the flagged clips was reviewed: it trains, the other flagged ones wait.
    assert counts["train_rows"] == clips - to_review + 1
    assert any(r.text.endswith("(checked)") for r in rows)
    assert report.metrics["train_rows"] == counts["train_rows"]


def test_tiny_whisper_learns(train_run: tuple[ASRTrainConfig, StageReport]) -> None:
    _, report = train_run
    assert report.metrics["steps"] == 8
    first, last = report.metrics["loss_first"], report.metrics["loss_last"]
    assert isinstance(first, float) and isinstance(last, float)
    assert last < first - 2.0, (first, last)
    assert report.timings["step_seconds"] > 0
    assert report.timings["tokens_per_second"] > 0
    label_tokens = report.metrics["label_tokens"]
    assert isinstance(label_tokens, int) and label_tokens > 8 * 2


def test_converted_model_loads_in_faster_whisper_and_transcribes(
    train_run: tuple[ASRTrainConfig, StageReport], data_dir: Path
) -> None:
    _, report = train_run
    ct2_dir = Path(report.artifacts["ct2_model"])
    assert {"model.bin", "config.json", "tokenizer.json", "preprocessor_config.json"} <= {
        p.name for p in ct2_dir.iterdir()
    }
    model = WhisperModel(str(ct2_dir), device="cpu", compute_type="int8", cpu_threads=2)
    assert model.model.is_multilingual
    segments, info = model.transcribe(
        str(data_dir / "audio" / "asr_en" / "jfk.flac"),
        language="en",
        beam_size=1,
        temperature=0.0,
        max_new_tokens=16,
    )
    texts = [s.text for s in segments]  # decoding runs lazily: this is where it would fail
    assert info.language == "en"
    assert all(isinstance(t, str) for t in texts)


def test_convert_refuses_an_incomplete_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}", encoding="utf-8")
    with pytest.raises(FileNotFoundError, match=r"missing tokenizer\.json"):
        convert_to_ct2(tmp_path, tmp_path / "out")
