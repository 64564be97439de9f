"""The example ASR configs load into their stage's config class."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.asr.config import ASRDataConfig, ASRTrainConfig
from training.config_io import ConfigError, load_config
from training.eval.asr import ASREvalConfig

CONFIGS = Path(__file__).resolve().parents[3] / "training" / "configs"


def test_asr_data_config() -> None:
    config = load_config(CONFIGS / "asr_data.yaml", ASRDataConfig)
    assert config.model == "base" and len(config.references) == 2
    assert config.glossary is not None and config.glossary.name == "asr_glossary.txt"
    assert "ИТМО" in (CONFIGS / "asr_glossary.txt").read_text(encoding="utf-8").splitlines()


def test_asr_train_configs_cpu_and_gpu() -> None:
    cpu = load_config(CONFIGS / "asr_train_cpu.yaml", ASRTrainConfig)
    gpu = load_config(CONFIGS / "asr_train_large_v3.yaml", ASRTrainConfig)
    assert (cpu.device, cpu.dtype, str(cpu.base_model)) == ("cpu", "float32", "base")
    assert (gpu.device, gpu.dtype, gpu.ct2_quantization) == ("cuda", "bfloat16", "float16")
    assert gpu.gradient_checkpointing and not gpu.include_unreviewed


def test_asr_eval_config_and_a_wrong_field(tmp_path: Path) -> None:
    assert load_config(CONFIGS / "asr_eval.yaml", ASREvalConfig).model == "base"
    bad = tmp_path / "bad.yaml"
    bad.write_text("base_model: x\nmanifest: m.jsonl\nmax_steps: 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="max_steps"):
        load_config(bad, ASRTrainConfig)
