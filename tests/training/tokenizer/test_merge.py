"""The merged tokenizer keeps every base token's id, adds new tokens once, and produces them."""

from __future__ import annotations

import json

import pytest
from tokenizers import Tokenizer

from training.tokenizer.measure import compression, round_trip_failures, tokens_used
from training.tokenizer.merge import MergeResult, bpe_pieces


def _model(tokenizer: Tokenizer) -> dict:
    return json.loads(tokenizer.to_str())["model"]


def _pairs(merges: list) -> list[tuple[str, str]]:
    pairs = []
    for merge in merges:
        left, right = merge.split(" ", 1) if isinstance(merge, str) else merge
        pairs.append((left, right))
    return pairs


def check_merged(
    base: Tokenizer, merged: MergeResult, ru_texts: list[str], en_texts: list[str]
) -> None:
    base_model, merged_model = _model(base), _model(merged.tokenizer)
    vocab = merged.tokenizer.get_vocab(with_added_tokens=True)

    # Base tokens and added (special) tokens keep their ids; base merges keep their order.
    for token, token_id in base.get_vocab(with_added_tokens=True).items():
        assert vocab[token] == token_id
    base_merges = _pairs(base_model["merges"])
    merged_merges = _pairs(merged_model["merges"])
    assert merged_merges[: len(base_merges)] == base_merges

    # No duplicates: one id per token, one token per id, ids contiguous, merges unique.
    assert len(set(vocab.values())) == len(vocab)
    assert sorted(vocab.values()) == list(range(len(vocab)))
    assert len(set(merged_merges)) == len(merged_merges)
    assert len(set(merged.added_tokens)) == len(merged.added_tokens)
    assert not set(merged.added_tokens) & set(base.get_vocab(with_added_tokens=True))
    assert merged.added_tokens, "the Russian tokenizer added nothing"
    first = merged.first_new_id
    assert [vocab[token] for token in merged.added_tokens] == list(
        range(first, first + len(merged.added_tokens))
    )

    # Every added token is produced: the Rust BPE turns its symbols into exactly that token,
    # as the Python BPE of merge.py predicted.
    ranks = {pair: rank for rank, pair in enumerate(merged_merges)}
    for token in merged.added_tokens:
        assert [t.value for t in merged.tokenizer.model.tokenize(token)] == [token]
        assert bpe_pieces(token, ranks) == [token]

    # Round trip, Russian compresses better, English not worse (never more tokens).
    assert round_trip_failures(merged.tokenizer, ru_texts + en_texts) == []
    ru_base, ru_merged = compression(base, ru_texts), compression(merged.tokenizer, ru_texts)
    assert ru_merged.tokens < ru_base.tokens
    en_base, en_merged = compression(base, en_texts), compression(merged.tokenizer, en_texts)
    assert en_merged.tokens <= en_base.tokens
    assert tokens_used(merged.tokenizer, ru_texts, first) > 0


def test_tiny_merge(
    tiny_base: Tokenizer,
    tiny_merged: MergeResult,
    ru_texts: list[str],
    en_texts: list[str],
) -> None:
    check_merged(tiny_base, tiny_merged, ru_texts, en_texts)
    # The base's special token sits between the base BPE ids and the new ones.
    assert tiny_merged.first_new_id == tiny_base.get_vocab_size(with_added_tokens=True)


def test_packaged_qwen_merge(
    qwen_base: Tokenizer,
    qwen_merged: MergeResult,
    ru_texts: list[str],
    en_texts: list[str],
) -> None:
    check_merged(qwen_base, qwen_merged, ru_texts, en_texts)
    assert qwen_merged.first_new_id == qwen_base.get_vocab_size(with_added_tokens=True)
    ru_gain = (
        compression(qwen_merged.tokenizer, ru_texts).chars_per_token
        / compression(qwen_base, ru_texts).chars_per_token
    )
    assert ru_gain > 1.05, f"Russian chars/token only ×{ru_gain:.3f} with a 4000-token BPE"


def test_special_tokens_survive_the_merge(tiny_merged: MergeResult) -> None:
    encoding = tiny_merged.tokenizer.encode("Привет<|endoftext|>")
    assert encoding.tokens[-1] == "<|endoftext|>"


@pytest.mark.parametrize("text", ["", "a", "ab"])
def test_bpe_pieces_edge_cases(text: str) -> None:
    assert "".join(bpe_pieces(text, {("a", "b"): 0})) == text
    assert bpe_pieces("aab", {("a", "b"): 0, ("a", "a"): 1}) == ["a", "ab"]
