"""Grow a model's embeddings for a merged tokenizer and train the new rows without moving the old.

New rows start as the mean of the rows of the base-tokenizer pieces that spell the new token, so
the model reads a new token roughly as it read those pieces. Old rows stay bit-identical while
training: a gradient hook zeroes their gradient, and with weight decay 0 AdamW's moments for them
stay zero from step 0, so their update is exactly 0.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

import torch
from tokenizers import Tokenizer
from torch.utils.hooks import RemovableHandle
from transformers import PreTrainedModel, PreTrainedTokenizerBase

TokenizerLike = PreTrainedTokenizerBase | Tokenizer


@dataclass
class ExtendResult:
    old_vocab_size: int
    new_vocab_size: int
    initialised: int


def _backend(tokenizer: TokenizerLike) -> Tokenizer:
    if isinstance(tokenizer, Tokenizer):
        return tokenizer
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if not isinstance(backend, Tokenizer):
        kind = type(tokenizer).__name__
        raise TypeError(f"{kind} has no `tokenizers` backend; use a fast tokenizer")
    return backend


def _size(tokenizer: TokenizerLike) -> int:
    if isinstance(tokenizer, Tokenizer):
        return tokenizer.get_vocab_size(with_added_tokens=True)
    return len(tokenizer)


def _input_weight(model: PreTrainedModel) -> torch.nn.Parameter:
    weight = getattr(model.get_input_embeddings(), "weight", None)
    if not isinstance(weight, torch.nn.Parameter):
        raise TypeError(f"{type(model).__name__}: input embeddings have no weight parameter")
    return weight


def _output_weight(model: PreTrainedModel) -> torch.nn.Parameter | None:
    """lm_head's weight when it is a separate tensor from the input embeddings, else None."""
    weight = getattr(model.get_output_embeddings(), "weight", None)
    if not isinstance(weight, torch.nn.Parameter) or weight is _input_weight(model):
        return None
    return weight


def extend_embeddings(
    model: PreTrainedModel, base_tokenizer: TokenizerLike, merged_tokenizer: TokenizerLike
) -> ExtendResult:
    """Resizes embeddings (and an untied lm_head) to the merged tokenizer; new rows = piece means.

    Never shrinks: a checkpoint may carry padding rows beyond its tokenizer; new ids that land on
    them overwrite them. Hooks from `freeze_old_rows` must be registered after this call (resizing
    makes new parameters).
    """
    old_size, new_size = _size(base_tokenizer), _size(merged_tokenizer)
    base, merged = _backend(base_tokenizer), _backend(merged_tokenizer)
    rows = _input_weight(model).shape[0]
    if new_size > rows:
        model.resize_token_embeddings(new_size, mean_resizing=False)
    inputs = _input_weight(model)
    output = _output_weight(model)
    initialised = 0
    with torch.no_grad():
        for token_id in range(old_size, new_size):
            token = merged.id_to_token(token_id)
            if token is None:
                continue
            # The base BPE model alone: the token's byte symbols, no re-pre-tokenization.
            pieces = [piece.id for piece in base.model.tokenize(token)]
            if not pieces:
                raise ValueError(f"token {token!r} (id {token_id}) has no pieces in the base")
            index = torch.tensor(pieces, device=inputs.device)
            inputs[token_id] = inputs[index].mean(dim=0)
            if output is not None:
                output[token_id] = output[index].mean(dim=0)
            initialised += 1
    return ExtendResult(old_vocab_size=old_size, new_vocab_size=new_size, initialised=initialised)


def _zero_rows_below(limit: int) -> Any:
    def hook(grad: torch.Tensor) -> torch.Tensor:
        grad = grad.clone()
        grad[:limit] = 0
        return grad

    return hook


def freeze_old_rows(model: PreTrainedModel, old_vocab_size: int) -> list[RemovableHandle]:
    """Gradient hooks zeroing rows < `old_vocab_size` of input embeddings and lm_head."""
    weights = [_input_weight(model)]
    output = _output_weight(model)
    if output is not None:
        weights.append(output)
    return [weight.register_hook(_zero_rows_below(old_vocab_size)) for weight in weights]


def _embedding_parameters(model: PreTrainedModel) -> list[torch.nn.Parameter]:
    params = [_input_weight(model)]
    output = _output_weight(model)
    if output is not None:
        params.append(output)
    return params


def parameter_groups(
    model: PreTrainedModel, weight_decay: float, stage: Literal["embeddings", "all"]
) -> list[dict[str, Any]]:
    """Sets requires_grad for the stage and returns AdamW parameter groups.

    Stage "embeddings" trains input embeddings and lm_head only; "all" trains everything.
    Embeddings get weight decay 0 (decay would shrink the frozen old rows); biases and norms too,
    as usual.
    """
    embedding = _embedding_parameters(model)
    embedding_ids = {id(param) for param in embedding}
    for param in model.parameters():
        param.requires_grad_(stage == "all" or id(param) in embedding_ids)
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for param in model.parameters():
        if id(param) in embedding_ids or not param.requires_grad:
            continue
        (decay if param.ndim >= 2 else no_decay).append(param)
    groups = [
        {"name": "embeddings", "params": embedding, "weight_decay": 0.0},
        {"name": "decay", "params": decay, "weight_decay": weight_decay},
        {"name": "no_decay", "params": no_decay, "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]
