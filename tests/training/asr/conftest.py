"""Shared ASR fixtures: the packaged Whisper base, a tiny Whisper, one pseudo-labelling run."""

from __future__ import annotations

from pathlib import Path

import pytest

from ml_controller.models.registry import WHISPER_BASE, assemble
from ml_controller.settings import MLSettings
from training.asr.checkpoint import build_tiny_whisper
from training.asr.config import ASRDataConfig
from training.asr.run import run_asr_data
from training.report import StageReport

# Short, clearly spoken clips with references; the long silence file and the stereo mix are left
# out to keep the suite fast.
EN_FILES = ("jfk.flac", "LDC93S1.wav", "fleurs-en-003.ogg", "fleurs-en-004.ogg")
RU_FILES = ("golos_001ce26c07c20eaa0d666b824c6c6924.wav", "pisets_test_sound_ru.wav")


@pytest.fixture(scope="session")
def whisper_base_dir() -> Path:
    return assemble(WHISPER_BASE, MLSettings().cache_dir)


@pytest.fixture(scope="session")
def tiny_whisper(whisper_base_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tiny-whisper")
    return build_tiny_whisper(whisper_base_dir, out, seed=0, ct2_reference=whisper_base_dir)


@pytest.fixture(scope="session")
def asr_data_run(
    data_dir: Path, whisper_base_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[ASRDataConfig, StageReport]:
    """The asr-data stage on real English and Russian recordings with the packaged Whisper base."""
    audio = data_dir / "audio"
    glossary = tmp_path_factory.mktemp("glossary") / "glossary.txt"
    glossary.write_text("# domain terms\nИТМО\nQdrant\n", encoding="utf-8")
    config = ASRDataConfig(
        inputs=[audio / "asr_en" / f for f in EN_FILES] + [audio / "asr_ru" / f for f in RU_FILES],
        output_dir=tmp_path_factory.mktemp("asr-data"),
        references=[audio / "asr_en" / "references.jsonl", audio / "asr_ru" / "references.jsonl"],
        glossary=glossary,
        lexicon_size=50_000,
    )
    return config, run_asr_data(config)
