"""`minuta-train sft` settings: data, adapter shape, training loop, and the evaluation after it.

The defaults are the CPU proof (Qwen2.5-Coder-0.5B-Instruct, sequences ≤ 768 tokens); a GPU run
changes the base model, dtype, batch and DeepSpeed config in its YAML
(training/configs/sft_7b.yaml).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from training.eval.minutes import MinutesEvalSettings

ATTENTION = ["q_proj", "k_proj", "v_proj", "o_proj"]
MLP = ["gate_proj", "up_proj", "down_proj"]


class _Settings(BaseModel):
    # A misspelt key in a YAML file is an error, not a silently ignored setting.
    model_config = ConfigDict(extra="forbid")


class ExampleSettings(_Settings):
    train_file: str = "summarization/qmsum_train.jsonl"  # under data_dir
    # Prompt + answer tokens; longer examples are dropped, not cut.
    max_tokens: int = Field(default=768, ge=32)
    min_words: int = Field(default=60, ge=0)  # shorter spans say too little to summarize
    dev_fraction: float = Field(default=0.1, gt=0.0, lt=1.0)  # share of train meetings held out
    max_train_examples: int | None = Field(default=None, ge=1)
    max_dev_examples: int = Field(default=8, ge=1)


class LoraSettings(_Settings):
    r: int = Field(default=8, ge=1)
    alpha: int = Field(default=16, ge=1)
    dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    # Qwen2 / Llama / Mistral / Gemma layer names; add MLP to adapt the feed-forward layers too.
    target_modules: list[str] = Field(default_factory=lambda: list(ATTENTION))


class TrainSettings(_Settings):
    max_steps: int = Field(default=50, ge=1)
    learning_rate: float = Field(default=2e-4, gt=0.0)
    batch_size: int = Field(default=1, ge=1)  # per device
    grad_accum: int = Field(default=1, ge=1)
    warmup_steps: int = Field(default=2, ge=0)
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = "linear"
    weight_decay: float = Field(default=0.0, ge=0.0)
    seed: int = 0
    # CPU threads for torch; None leaves torch's default (all cores).
    threads: int | None = Field(default=2, ge=1)
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    gradient_checkpointing: bool = False
    # A DeepSpeed JSON config for multi-GPU runs, handed to the transformers Trainer as is.
    deepspeed_config: Path | None = None
    logging_steps: int = Field(default=1, ge=1)


class SFTConfig(_Settings):
    # A packaged model name (qwen2.5-coder-0.5b-instruct, gemma-3-270m) or a checkpoint dir.
    base_model: str = "qwen2.5-coder-0.5b-instruct"
    data_dir: Path = Path("../shared/data")
    output_dir: Path = Path("runs/sft")
    examples: ExampleSettings = Field(default_factory=ExampleSettings)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    # Base vs base+adapter on QMSum val after training; None skips it.
    evaluation: MinutesEvalSettings | None = None
