"""The packaged Qwen2.5-Coder-0.5B-Instruct with a merged Russian tokenizer: old rows stay put."""

from __future__ import annotations

from pathlib import Path

import torch
from transformers import AutoModelForCausalLM, PreTrainedTokenizerBase

from tests.training.tokenizer.test_embeddings import russian_batch, train_steps, weights
from training.tokenizer.embeddings import extend_embeddings, freeze_old_rows, parameter_groups
from training.tokenizer.merge import MergeResult


def test_packaged_qwen_old_rows_bit_identical_new_rows_trained(
    qwen_dir: Path, qwen_merged: MergeResult, ru_texts: list[str]
) -> None:
    torch.set_num_threads(2)
    model = AutoModelForCausalLM.from_pretrained(
        qwen_dir, local_files_only=True, dtype=torch.float32
    )
    base_size = weights(model)[0].shape[0]
    result = extend_embeddings(model, qwen_dir_tokenizer(qwen_dir), qwen_merged.tokenizer)
    assert result.old_vocab_size == base_size == qwen_merged.first_new_id
    assert result.initialised == len(qwen_merged.added_tokens) > 1000
    assert weights(model)[0].shape[0] == result.new_vocab_size

    freeze_old_rows(model, result.old_vocab_size)
    groups = parameter_groups(model, weight_decay=0.1, stage="embeddings")
    # One row of 48 tokens (a 0.5B backward on 2 shared cores is slow): the one richest in new ids.
    rows = russian_batch(qwen_merged.tokenizer, ru_texts)
    batch = rows[(rows >= result.old_vocab_size).sum(dim=1).argmax()].unsqueeze(0)
    used_new = batch[batch >= result.old_vocab_size].unique()
    assert len(used_new) > 3
    inputs, output = weights(model)
    assert inputs is not output  # this checkpoint has its own lm_head: both hooks are exercised
    old = slice(0, result.old_vocab_size)
    start_in, start_out = inputs[old].detach().clone(), output[old].detach().clone()
    new_in = inputs[used_new].detach().clone()

    train_steps(model, groups, batch, steps=2)
    assert torch.equal(inputs[old], start_in)
    assert torch.equal(output[old], start_out)
    assert not torch.equal(inputs[used_new], new_in)


def qwen_dir_tokenizer(qwen_dir: Path) -> PreTrainedTokenizerBase:
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(qwen_dir, local_files_only=True)
