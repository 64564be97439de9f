"""What this machine can do for a run: bf16, FlashAttention 2, DeepSpeed, and the Accelerator.

`auto` settings pick the fast option only when the hardware and packages have it, so one config
runs on a laptop CPU and on a GPU node; an explicit request the machine cannot honour is an error
that says what is missing, never a silent fallback.
"""

from __future__ import annotations

import importlib.util
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from training.cpt.config import CPTConfig
from training.errors import TrainingError

if TYPE_CHECKING:
    from accelerate import Accelerator


class HardwareError(TrainingError, RuntimeError):
    """The config asks for something this machine or environment does not have."""


@dataclass(frozen=True)
class Runtime:
    mixed_precision: str  # "bf16" or "no"
    attention: str  # transformers' attn_implementation
    reset_position_ids: bool
    # The DeepSpeed config with the values accelerate cannot infer filled in; None: no DeepSpeed.
    deepspeed_config: dict[str, Any] | None
    notes: list[str] = field(default_factory=list)

    @property
    def cpu_offload(self) -> bool:
        if self.deepspeed_config is None:
            return False
        zero = self.deepspeed_config.get("zero_optimization", {})
        return str(zero.get("offload_optimizer", {}).get("device", "none")) == "cpu"


def bf16_available() -> bool:
    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()


def flash_attention_available() -> bool:
    return torch.cuda.is_available() and importlib.util.find_spec("flash_attn") is not None


def _mixed_precision(config: CPTConfig, notes: list[str]) -> str:
    if config.mixed_precision == "no":
        return "no"
    if bf16_available():
        return "bf16"
    if config.mixed_precision == "bf16":
        raise HardwareError(
            "mixed_precision: bf16 needs a CUDA GPU with bf16 support (Ampere or newer); "
            "this machine has none. Use mixed_precision: auto or no here."
        )
    notes.append("no CUDA bf16 here: training in float32")
    return "no"


def _attention(config: CPTConfig, notes: list[str]) -> str:
    if config.attention != "auto" and config.attention != "flash_attention_2":
        return config.attention
    if flash_attention_available():
        return "flash_attention_2"
    if config.attention == "flash_attention_2":
        raise HardwareError(
            "attention: flash_attention_2 needs CUDA and the flash_attn package "
            f"(cuda available: {torch.cuda.is_available()}, "
            f"flash_attn installed: {importlib.util.find_spec('flash_attn') is not None}). "
            "Install flash-attn on the GPU machine or use attention: auto."
        )
    notes.append("no FlashAttention 2 here: using sdpa attention")
    return "sdpa"


def load_deepspeed_config(path: Path, config: CPTConfig) -> dict[str, Any]:
    """The JSON at `path` with batch size, accumulation and clipping taken from `config`."""
    if importlib.util.find_spec("deepspeed") is None:
        raise HardwareError(
            f"deepspeed: {path} is set, but the deepspeed package is not installed. Install it "
            "on the GPU machine (pip install deepspeed, matching its CUDA) or remove `deepspeed:` "
            "from the config to train without it."
        )
    if not path.is_file():
        raise HardwareError(f"deepspeed: {path} does not exist (see training/configs/)")
    try:
        ds: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise HardwareError(f"deepspeed: {path} is not valid JSON: {exc}") from exc
    # accelerate fills "auto" from a prepared DataLoader, which this loop does not use.
    ds["train_micro_batch_size_per_gpu"] = config.micro_batch_size
    ds["gradient_accumulation_steps"] = config.gradient_accumulation_steps
    ds["gradient_clipping"] = config.max_grad_norm or 0.0
    ds.pop("train_batch_size", None)
    return ds


def resolve_runtime(config: CPTConfig) -> Runtime:
    notes: list[str] = []
    mixed_precision = _mixed_precision(config, notes)
    attention = _attention(config, notes)
    reset = config.reset_position_ids
    if reset is None:
        reset = attention == "flash_attention_2"
    deepspeed = None
    if config.deepspeed is not None:
        deepspeed = load_deepspeed_config(config.deepspeed.expanduser(), config)
    return Runtime(mixed_precision, attention, reset, deepspeed, notes)


def make_accelerator(runtime: Runtime, config: CPTConfig) -> Accelerator:
    from accelerate import Accelerator, DeepSpeedPlugin

    plugin = None
    if runtime.deepspeed_config is not None:
        plugin = DeepSpeedPlugin(hf_ds_config=runtime.deepspeed_config)
    return Accelerator(
        mixed_precision=runtime.mixed_precision,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        deepspeed_plugin=plugin,
    )
