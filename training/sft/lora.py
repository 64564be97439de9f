"""The LoRA adapter put on a causal LM: low-rank updates of the attention (and MLP) projections.

No `modules_to_save`: an adapter that also saves embeddings or the output layer is not what
vLLM's `--lora-modules` serves, and it would be as large as those layers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from training.sft.config import LoraSettings

if TYPE_CHECKING:
    from peft import LoraConfig


def lora_config(settings: LoraSettings) -> LoraConfig:
    from peft import LoraConfig, TaskType

    return LoraConfig(
        r=settings.r,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(settings.target_modules),
        bias="none",
        task_type=TaskType.CAUSAL_LM,
    )


def attach_lora(model: Any, settings: LoraSettings) -> Any:
    """`model` wrapped by peft with fresh LoRA weights; only those are trainable."""
    from peft import get_peft_model

    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    missing = [m for m in settings.target_modules if m not in names]
    if missing:
        raise ValueError(
            f"lora.target_modules {missing} are not layers of {type(model).__name__}; "
            f"its linear layers include {sorted(n for n in names if n.endswith('proj'))}"
        )
    return get_peft_model(model, lora_config(settings))


def trainable_parameters(model: Any) -> tuple[int, int]:
    """(trainable, total) parameter counts."""
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return trainable, total
