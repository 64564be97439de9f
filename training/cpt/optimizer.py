"""AdamW and its parameter groups, including the tokenizer-adaptation variant.

No weight decay on biases, norms and embedding matrices (decaying rarely-seen token rows shrinks
them for nothing). After a tokenizer extension the tokenizer stage's functions decide the groups
and freeze the old vocabulary rows with gradient hooks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.utils.hooks import RemovableHandle

from training.cpt.config import CPTConfig


@dataclass
class OptimizerSetup:
    groups: list[dict[str, Any]]
    # Gradient hooks that keep the old vocabulary rows fixed; removed after training.
    hooks: list[RemovableHandle] = field(default_factory=list)

    def remove_hooks(self) -> None:
        for handle in self.hooks:
            handle.remove()
        self.hooks.clear()


def _embedding_ids(model: nn.Module) -> set[int]:
    ids: set[int] = set()
    for getter in ("get_input_embeddings", "get_output_embeddings"):
        module = getattr(model, getter, lambda: None)()
        weight = getattr(module, "weight", None)
        if isinstance(weight, torch.Tensor):
            ids.add(id(weight))
    return ids


def default_groups(model: nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    embeddings = _embedding_ids(model)
    decay: list[nn.Parameter] = []
    no_decay: list[nn.Parameter] = []
    for param in model.parameters():
        if not param.requires_grad:
            continue
        if param.ndim < 2 or id(param) in embeddings:
            no_decay.append(param)
        else:
            decay.append(param)
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return [g for g in groups if g["params"]]


def parameter_setup(model: nn.Module, config: CPTConfig) -> OptimizerSetup:
    if config.adaptation is None:
        return OptimizerSetup(default_groups(model, config.weight_decay))
    from training.tokenizer.embeddings import freeze_old_rows, parameter_groups

    pretrained: Any = model  # a transformers model: it has get_input_embeddings()
    hooks = freeze_old_rows(pretrained, config.adaptation.old_vocab_size)
    groups = parameter_groups(pretrained, config.weight_decay, config.adaptation.stage)
    return OptimizerSetup(groups, hooks)


def make_optimizer(
    groups: list[dict[str, Any]], config: CPTConfig, *, cpu_offload: bool
) -> torch.optim.Optimizer:
    kwargs: dict[str, Any] = {
        "lr": config.learning_rate,
        "betas": config.adam_betas,
        "eps": config.adam_eps,
        "weight_decay": config.weight_decay,
    }
    if cpu_offload:
        # ZeRO-Offload steps the optimizer on the CPU; DeepSpeed's own Adam is the fast one there.
        from deepspeed.ops.adam import DeepSpeedCPUAdam

        optimizer: torch.optim.Optimizer = DeepSpeedCPUAdam(groups, adamw_mode=True, **kwargs)
        return optimizer
    # The fused kernel exists for CPU and CUDA; on a CPU it is ~15× faster than the default loop.
    return torch.optim.AdamW(groups, fused=True, **kwargs)
