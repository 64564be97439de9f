"""A tiny Qwen2-style causal LM written as a checkpoint directory, for fast SFT and eval tests.

It uses the packaged Qwen2.5 tokenizer (chat template and all), so prompts are tokenized exactly
as for the real model; only the network is tiny (2 layers, hidden 64) and random.
"""

from __future__ import annotations

from pathlib import Path

from tests.training.tiny_models import tiny_causal_lm
from training.base_models import PackagedName, packaged_checkpoint

QWEN: PackagedName = "qwen2.5-coder-0.5b-instruct"


def build_tiny_qwen(out_dir: Path, seed: int = 0) -> Path:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(packaged_checkpoint(QWEN), local_files_only=True)
    model = tiny_causal_lm(len(tokenizer), tokenizer=tokenizer, seed=seed)
    model.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
