"""Prompt masked, answer learned up to EOS, the prompt exactly as the engine renders it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ml_controller.llm.transformers_engine import render_prompt
from training.base_models import packaged_checkpoint
from training.datasets.chat import ChatExample, load_examples
from training.datasets.chat_tokens import IGNORE_INDEX, collate, tokenize_example, tokenize_examples


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    path = packaged_checkpoint("qwen2.5-coder-0.5b-instruct")
    return AutoTokenizer.from_pretrained(path, local_files_only=True)


@pytest.fixture(scope="module")
def examples(data_dir: Path) -> list[ChatExample]:
    return load_examples(data_dir / "summarization/qmsum_val.jsonl", 60, 300)[:6]


def test_prompt_masked_answer_learned(tokenizer: Any, examples: list[ChatExample]) -> None:
    example = examples[0]
    tokens = tokenize_example(tokenizer, example)
    prompt = render_prompt(tokenizer, example.messages)
    n = len(prompt)
    assert tokens.input_ids[:n] == prompt
    assert tokens.labels[:n] == [IGNORE_INDEX] * n
    assert tokens.labels[n:] == tokens.input_ids[n:]
    assert tokens.prompt_tokens == n
    assert tokenizer.decode(tokens.input_ids[n:]) == example.target + "<|im_end|>"
    assert tokenizer.decode(prompt).startswith("<|im_start|>system\n")
    assert tokenizer.decode(prompt).endswith("<|im_start|>assistant\n")


def test_too_long_examples_are_dropped_not_cut(tokenizer: Any, examples: list[ChatExample]) -> None:
    lengths = [len(tokenize_example(tokenizer, e).input_ids) for e in examples]
    limit = sorted(lengths)[len(lengths) // 2]
    kept, tokens = tokenize_examples(tokenizer, examples, limit)
    assert len(kept) == sum(1 for n in lengths if n <= limit) < len(examples)
    assert all(len(t.input_ids) <= limit for t in tokens)
    assert all(t.labels[-1] == tokenizer.eos_token_id for t in tokens)


def test_collate_pads_outside_attention_and_loss(
    tokenizer: Any, examples: list[ChatExample]
) -> None:
    a, b = (tokenize_example(tokenizer, e) for e in examples[:2])
    batch = collate([a, b], pad_id=tokenizer.pad_token_id)
    width = max(len(a.input_ids), len(b.input_ids))
    assert batch["input_ids"].shape == (2, width)
    short = 0 if len(a.input_ids) < len(b.input_ids) else 1
    size = min(len(a.input_ids), len(b.input_ids))
    assert batch["attention_mask"][short, size:].sum() == 0
    assert (batch["labels"][short, size:] == IGNORE_INDEX).all()
    assert batch["attention_mask"][1 - short].all()
