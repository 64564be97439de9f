"""Extended embeddings: piece-mean init, old rows bit-identical after AdamW, new rows trained."""

from __future__ import annotations

import json
from typing import Any

import pytest
import torch
from tokenizers import Tokenizer
from transformers import LlamaForCausalLM, PreTrainedModel, Qwen2ForCausalLM

from tests.training.tiny_models import tiny_causal_lm
from training.tokenizer.embeddings import (
    extend_embeddings,
    freeze_old_rows,
    parameter_groups,
)
from training.tokenizer.merge import MergeResult, bpe_pieces


def tiny_model(vocab_size: int, tied: bool) -> Qwen2ForCausalLM | LlamaForCausalLM:
    return tiny_causal_lm(vocab_size, tied=tied)


def russian_batch(tokenizer: Tokenizer, texts: list[str], length: int = 48) -> torch.Tensor:
    ids = [i for text in texts for i in tokenizer.encode(" " + text).ids]
    rows = len(ids) // length
    return torch.tensor(ids[: rows * length]).view(rows, length)


def train_steps(
    model: PreTrainedModel, groups: list[dict[str, Any]], batch: torch.Tensor, steps: int = 3
) -> None:
    torch.manual_seed(0)
    # fused=True as in the CPT loop (training/cpt/optimizer.py); zero moments stay exactly zero.
    optimizer = torch.optim.AdamW(groups, lr=1e-2, fused=True)
    for _ in range(steps):
        model(input_ids=batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad()


def weights(model: Any) -> tuple[torch.Tensor, torch.Tensor]:
    return model.get_input_embeddings().weight, model.get_output_embeddings().weight


@pytest.mark.parametrize("tied", [False, True])
def test_new_rows_start_as_the_mean_of_their_base_pieces(
    tiny_base: Tokenizer, tiny_merged: MergeResult, tied: bool
) -> None:
    old_size = tiny_base.get_vocab_size(with_added_tokens=True)
    model = tiny_model(old_size, tied)
    before = [w.detach().clone() for w in weights(model)]
    result = extend_embeddings(model, tiny_base, tiny_merged.tokenizer)

    merged_size = tiny_merged.tokenizer.get_vocab_size(with_added_tokens=True)
    assert (result.old_vocab_size, result.new_vocab_size) == (old_size, merged_size)
    assert result.initialised == len(tiny_merged.added_tokens)
    assert model.config.vocab_size == merged_size
    spec = json.loads(tiny_base.to_str())["model"]
    ranks = {tuple(pair): rank for rank, pair in enumerate(spec["merges"])}
    vocab = tiny_base.get_vocab()
    for now, old in zip(weights(model), before, strict=True):
        assert now.shape[0] == merged_size
        assert torch.equal(now[:old_size], old)
        for token in tiny_merged.added_tokens[:50]:
            pieces = [vocab[piece] for piece in bpe_pieces(token, ranks)]
            assert len(pieces) >= 2
            expected = old[pieces].mean(dim=0)
            assert torch.allclose(now[tiny_merged.tokenizer.token_to_id(token)], expected)


@pytest.mark.parametrize("tied", [False, True])
def test_old_rows_bit_identical_after_training_stage_by_stage(
    tiny_base: Tokenizer, tiny_merged: MergeResult, ru_texts: list[str], tied: bool
) -> None:
    model = tiny_model(tiny_base.get_vocab_size(with_added_tokens=True), tied)
    result = extend_embeddings(model, tiny_base, tiny_merged.tokenizer)
    handles = freeze_old_rows(model, result.old_vocab_size)
    assert len(handles) == (1 if tied else 2)
    batch = russian_batch(tiny_merged.tokenizer, ru_texts)[:2]
    old = slice(0, result.old_vocab_size)
    used_new = batch[batch >= result.old_vocab_size].unique()
    assert len(used_new) > 5 and (batch < result.old_vocab_size).any()
    start = [w.detach().clone() for w in weights(model)]
    layer = model.model.layers[0].mlp.up_proj.weight
    layer_start = layer.detach().clone()

    # Stage 1: embeddings only; weight decay on the rest must not reach the embeddings.
    groups = parameter_groups(model, weight_decay=0.1, stage="embeddings")
    train_steps(model, groups, batch)
    for now, first in zip(weights(model), start, strict=True):
        assert torch.equal(now[old], first[old])
        assert not torch.equal(now[used_new], first[used_new])
    assert torch.equal(layer, layer_start)
    # Every new lm_head row moves: the softmax gives each a gradient.
    output_now = weights(model)[1][result.old_vocab_size :]
    assert (output_now != start[1][result.old_vocab_size :]).any(dim=1).all()

    # Stage 2: everything trains, the old rows still do not move.
    groups = parameter_groups(model, weight_decay=0.1, stage="all")
    train_steps(model, groups, batch)
    for now, first in zip(weights(model), start, strict=True):
        assert torch.equal(now[old], first[old])
    assert not torch.equal(layer, layer_start)

    # Without the hooks the old rows move: the test above can fail.
    for handle in handles:
        handle.remove()
    train_steps(model, parameter_groups(model, weight_decay=0.0, stage="embeddings"), batch, 1)
    assert not torch.equal(weights(model)[0][old], start[0][old])


def test_parameter_groups_split_decay_and_trainability(tiny_base: Tokenizer) -> None:
    model = tiny_model(tiny_base.get_vocab_size(with_added_tokens=True), tied=False)
    groups = parameter_groups(model, weight_decay=0.05, stage="embeddings")
    assert [g["name"] for g in groups] == ["embeddings"]
    assert groups[0]["weight_decay"] == 0.0
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    assert trainable == {id(p) for p in weights(model)}

    groups = parameter_groups(model, weight_decay=0.05, stage="all")
    by_name = {g["name"]: g for g in groups}
    assert by_name["decay"]["weight_decay"] == 0.05
    assert by_name["no_decay"]["weight_decay"] == 0.0
    assert all(p.ndim == 1 for p in by_name["no_decay"]["params"])
    grouped = [id(p) for g in groups for p in g["params"]]
    assert len(grouped) == len(set(grouped)) == len(list(model.parameters()))


def test_padding_rows_beyond_the_tokenizer_are_reused_not_shrunk(
    tiny_base: Tokenizer, tiny_merged: MergeResult
) -> None:
    # Released checkpoints pad embeddings past the tokenizer (Qwen2.5: 151,936 rows, 151,665 ids).
    old_size = tiny_base.get_vocab_size(with_added_tokens=True)
    merged_size = tiny_merged.tokenizer.get_vocab_size(with_added_tokens=True)
    padded = merged_size + 7
    model = tiny_model(padded, tied=True)
    before = weights(model)[0].detach().clone()
    result = extend_embeddings(model, tiny_base, tiny_merged.tokenizer)
    now = weights(model)[0]
    assert now.shape[0] == padded
    assert torch.equal(now[:old_size], before[:old_size])
    assert (now[old_size:merged_size] != before[old_size:merged_size]).any(dim=1).all()
    assert torch.equal(now[merged_size:], before[merged_size:])
    assert result.initialised == merged_size - old_size
