"""The tiny random causal LMs the training tests build: 2 layers, hidden 64, any vocabulary."""

from __future__ import annotations

from typing import Any, Literal

import torch
from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM


def tiny_causal_lm(
    vocab_size: int,
    *,
    kind: Literal["qwen2", "llama"] = "qwen2",
    tied: bool = True,
    tokenizer: Any = None,
    seed: int = 0,
) -> Qwen2ForCausalLM | LlamaForCausalLM:
    """Seeded, so the same call gives the same weights; special ids come from `tokenizer`."""
    special: dict[str, Any] = (
        {
            "bos_token_id": tokenizer.bos_token_id,
            "eos_token_id": tokenizer.eos_token_id,
            "pad_token_id": tokenizer.pad_token_id,
        }
        if tokenizer is not None
        else {}
    )
    shape: dict[str, Any] = {
        "vocab_size": vocab_size,
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "max_position_embeddings": 2048,
        "tie_word_embeddings": tied,
    }
    torch.manual_seed(seed)
    if kind == "llama":
        return LlamaForCausalLM(LlamaConfig(**shape, **special))
    return Qwen2ForCausalLM(Qwen2Config(**shape, **special))
