"""On this CPU-only machine: `auto` falls back, explicit GPU features fail with clear errors."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from training.config_io import load_config
from training.cpt.config import CPTConfig
from training.cpt.hardware import HardwareError, bf16_available, resolve_runtime

CONFIGS = Path(__file__).resolve().parents[3] / "training" / "configs"
pytestmark = pytest.mark.skipif(bf16_available(), reason="asserts the CPU fallbacks")


def _config(tmp_path: Path, **fields: object) -> CPTConfig:
    return CPTConfig.model_validate(
        {
            "model_dir": tmp_path,
            "output_dir": tmp_path / "out",
            "train_sources": [{"path": tmp_path}],
            **fields,
        }
    )


def test_auto_means_float32_and_sdpa_without_a_gpu(tmp_path: Path) -> None:
    runtime = resolve_runtime(_config(tmp_path))
    assert runtime.mixed_precision == "no" and runtime.attention == "sdpa"
    assert runtime.reset_position_ids is False and runtime.deepspeed_config is None
    assert any("float32" in note for note in runtime.notes)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("mixed_precision", "bf16", "needs a CUDA GPU with bf16"),
        ("attention", "flash_attention_2", "needs CUDA and the flash_attn package"),
    ],
)
def test_explicit_gpu_features_fail_clearly(
    tmp_path: Path, field: str, value: str, message: str
) -> None:
    with pytest.raises(HardwareError, match=message):
        resolve_runtime(_config(tmp_path, **{field: value}))


@pytest.mark.skipif(importlib.util.find_spec("deepspeed") is not None, reason="deepspeed present")
def test_deepspeed_without_the_package_says_what_to_install(tmp_path: Path) -> None:
    config = _config(tmp_path, deepspeed=CONFIGS / "deepspeed_zero2_offload.json")
    with pytest.raises(HardwareError, match="deepspeed package is not installed"):
        resolve_runtime(config)


def test_zero2_offload_config_is_what_the_7b_run_needs() -> None:
    ds = json.loads((CONFIGS / "deepspeed_zero2_offload.json").read_text(encoding="utf-8"))
    zero = ds["zero_optimization"]
    assert zero["stage"] == 2
    assert zero["offload_optimizer"] == {"device": "cpu", "pin_memory": True}
    assert ds["bf16"]["enabled"] is True
    assert ds["train_micro_batch_size_per_gpu"] == "auto"


def test_example_configs_validate() -> None:
    small = load_config(CONFIGS / "cpt_small_cpu.yaml", CPTConfig)
    assert small.packaged_model == "gemma-3-270m" and small.mixed_precision == "auto"
    assert resolve_runtime(small).mixed_precision == "no"
    big = load_config(CONFIGS / "cpt_7b.yaml", CPTConfig)
    assert (big.mixed_precision, big.attention) == ("bf16", "flash_attention_2")
    assert big.deepspeed == Path("training/configs/deepspeed_zero2_offload.json")
    assert big.gradient_checkpointing and big.adaptation is not None
    with pytest.raises(HardwareError):
        resolve_runtime(big)
