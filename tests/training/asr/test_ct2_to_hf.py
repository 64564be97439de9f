"""The packaged Whisper base (CTranslate2 only) → transformers → fine-tuned → CTranslate2 again."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from faster_whisper import WhisperModel

from ml_controller.audio.decode import decode_audio
from ml_controller.metrics import word_error_rate
from training.asr.checkpoint import load_feature_extractor, load_tokenizer
from training.asr.config import ASRTrainConfig
from training.asr.ct2_to_hf import CT2FormatError, read_ct2_variables, whisper_config
from training.asr.finetune import load_model
from training.asr.manifest import ManifestRow, write_manifest
from training.asr.run import run_asr_train

JFK = (
    "And so my fellow Americans, ask not what your country can do for you, "
    "ask what you can do for your country."
)


@pytest.fixture(scope="module")
def base_round_trip(
    whisper_base_dir: Path, data_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, Path]:
    """asr-train with the CTranslate2 base as base_model: two small steps, then back to CT2."""
    work = tmp_path_factory.mktemp("base-train")
    audio = data_dir / "audio" / "asr_en"
    manifest = write_manifest(
        [
            ManifestRow(
                audio=str(audio / "jfk.flac"), start=0.0, end=11.0, text=JFK, language="en"
            ),
            ManifestRow(
                audio=str(audio / "LDC93S1.wav"),
                start=0.0,
                end=2.9,
                text="She had your dark suit in greasy wash water all year.",
                language="en",
            ),
        ],
        work / "manifest.jsonl",
    )
    config = ASRTrainConfig(
        base_model=whisper_base_dir,
        manifest=manifest,
        output_dir=work / "run",
        max_steps=2,
        batch_size=1,
        learning_rate=1e-6,
        freeze_encoder=True,
    )
    report = run_asr_train(config)
    assert report.metrics["steps"] == 2
    assert any("converted back" in note for note in report.notes)
    return work / "run" / "base_hf", Path(report.artifacts["ct2_model"])


def test_variables_map_to_whisper_base_config(whisper_base_dir: Path) -> None:
    config = whisper_config(read_ct2_variables(whisper_base_dir / "model.bin"))
    assert (config.d_model, config.encoder_layers, config.decoder_layers) == (512, 6, 6)
    assert (config.encoder_attention_heads, config.vocab_size, config.num_mel_bins) == (
        8,
        51865,
        80,
    )


def test_reader_refuses_other_files(tmp_path: Path) -> None:
    bogus = tmp_path / "model.bin"
    bogus.write_bytes(b"\x06\x00\x00\x00\x0a\x00TextSpec\x00\x00")
    with pytest.raises(CT2FormatError, match="not a WhisperSpec"):
        read_ct2_variables(bogus)


def test_converted_back_base_transcribes_jfk_in_transformers(
    base_round_trip: tuple[Path, Path], data_dir: Path
) -> None:
    hf_dir, _ = base_round_trip
    torch.set_num_threads(2)
    model = load_model(hf_dir).eval()
    tokenizer, features = load_tokenizer(hf_dir), load_feature_extractor(hf_dir)
    with decode_audio(data_dir / "audio" / "asr_en" / "jfk.flac") as audio:
        samples = audio.block(0.0, 30.0)
    inputs = features(samples, sampling_rate=16_000, return_tensors="pt").input_features
    with torch.no_grad():
        ids = model.generate(
            inputs, language="en", task="transcribe", num_beams=1, max_new_tokens=60
        )
    text = tokenizer.decode(ids[0], skip_special_tokens=True)
    assert word_error_rate([JFK], [text]) == 0.0, text


def test_fine_tuned_base_loads_in_faster_whisper_and_still_transcribes(
    base_round_trip: tuple[Path, Path], data_dir: Path
) -> None:
    _, ct2_dir = base_round_trip
    model = WhisperModel(str(ct2_dir), device="cpu", compute_type="int8", cpu_threads=2)
    segments, info = model.transcribe(
        str(data_dir / "audio" / "asr_en" / "jfk.flac"), beam_size=1, word_timestamps=True
    )
    segments = list(segments)
    text = " ".join(s.text for s in segments)
    # Language detection and word timestamps need lang_ids and alignment heads carried over.
    assert info.language == "en"
    assert segments[0].words
    assert word_error_rate([JFK], [text]) <= 0.05, text
