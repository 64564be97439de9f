"""What a continual-pretraining run reads from its YAML file (`minuta-train cpt CONFIG`).

One schema serves the CPU proof on a packaged 270M model and a 7B GPU run: the GPU file turns on
bf16, FlashAttention 2, gradient checkpointing and a DeepSpeed config; everything else is shared.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from training.datasets.documents import TextSource


class SpikeGuardConfig(BaseModel):
    """When a window's loss counts as a spike, and what happens then."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    # A spike: a non-finite loss, or one above `factor` × the median of the last `history` good
    # losses (checked once `min_history` of them exist, so the early fast descent is not judged).
    factor: float = Field(default=2.0, gt=1.0)
    history: int = Field(default=32, ge=1)
    min_history: int = Field(default=4, ge=1)
    # Windows before the spiking one to skip as well (their updates may have caused it).
    skip_windows_before: int = Field(default=0, ge=0)
    # More rollbacks than this means the run itself is unstable (learning rate, data): stop.
    max_rollbacks: int = Field(default=5, ge=1)


class AdaptationConfig(BaseModel):
    """Training after a tokenizer extension: rows below `old_vocab_size` stay fixed."""

    model_config = ConfigDict(extra="forbid")

    old_vocab_size: int = Field(ge=1)
    # `embeddings`: only the embedding and output matrices learn; `all`: the whole model does.
    stage: Literal["embeddings", "all"] = "embeddings"


class SpikeInjection(BaseModel):
    """Test hook: multiply the loss of one data window to provoke the spike guard."""

    model_config = ConfigDict(extra="forbid")

    window: int = Field(ge=0)
    loss_scale: float = Field(default=100.0, gt=1.0)


class CPTConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # The base model: a transformers checkpoint directory, or a packaged small model's name.
    model_dir: Path | None = None
    packaged_model: Literal["qwen2.5-coder-0.5b-instruct", "gemma-3-270m"] | None = None
    output_dir: Path

    train_sources: list[TextSource] = Field(min_length=1)
    # Held-out text for perplexity; when empty, `eval_fraction` of the training documents.
    eval_sources: list[TextSource] = Field(default_factory=list)
    eval_fraction: float = Field(default=0.05, ge=0.0, lt=1.0)
    eval_max_tokens: int = Field(default=16384, ge=1)
    # Perplexity on the held-out text every N optimizer steps (0: only before and after).
    eval_every: int = Field(default=0, ge=0)
    # Stop reading sources after this many tokens (a quick run over a big corpus).
    max_train_tokens: int | None = Field(default=None, ge=1)

    block_size: int = Field(default=1024, ge=8)
    # Position ids restarting at each document inside a block; None: only with FlashAttention 2,
    # which then keeps documents apart (other kernels would attend across documents anyway).
    reset_position_ids: bool | None = None
    # The document separator; None: the tokenizer's EOS token.
    separator_token: str | None = None

    micro_batch_size: int = Field(default=1, ge=1)
    gradient_accumulation_steps: int = Field(default=8, ge=1)
    # Optimizer steps; None: `epochs` passes over the packed blocks.
    max_steps: int | None = Field(default=None, ge=1)
    epochs: float = Field(default=1.0, gt=0.0)
    learning_rate: float = Field(default=2e-5, gt=0.0)
    min_lr_ratio: float = Field(default=0.1, ge=0.0, le=1.0)
    warmup_steps: int = Field(default=0, ge=0)
    weight_decay: float = Field(default=0.1, ge=0.0)
    adam_betas: tuple[float, float] = (0.9, 0.95)
    adam_eps: float = 1e-8
    max_grad_norm: float | None = Field(default=1.0, gt=0.0)

    # `auto`: bf16 only where CUDA supports it; asking for bf16 without it is an error.
    mixed_precision: Literal["auto", "bf16", "no"] = "auto"
    # `auto`: FlashAttention 2 when flash_attn is installed and CUDA is present, else sdpa.
    attention: Literal["auto", "flash_attention_2", "sdpa", "eager"] = "auto"
    # How the weights are loaded; DeepSpeed with bf16 keeps fp32 master weights itself.
    torch_dtype: Literal["float32", "bfloat16"] = "float32"
    gradient_checkpointing: bool = False
    # A DeepSpeed JSON config (ZeRO-2 with CPU offload for 7B); needs the deepspeed package.
    deepspeed: Path | None = None

    # Optimizer steps between checkpoints (the spike guard rolls back to the newest one).
    checkpoint_every: int = Field(default=100, ge=1)
    keep_checkpoints: int = Field(default=2, ge=1)
    save_model: bool = True

    spike_guard: SpikeGuardConfig = Field(default_factory=SpikeGuardConfig)
    adaptation: AdaptationConfig | None = None
    inject_spike: SpikeInjection | None = None

    seed: int = 0
    # CPU threads for torch; None leaves torch's default (a GPU run does not care).
    num_threads: int | None = 2

    @model_validator(mode="after")
    def _one_model(self) -> CPTConfig:
        if (self.model_dir is None) == (self.packaged_model is None):
            raise ValueError(
                "set exactly one of model_dir (a checkpoint folder) and packaged_model"
            )
        return self
