"""Characters per token and round trips, on tokenizers whose answers are known."""

from __future__ import annotations

from tokenizers import Tokenizer, decoders

from training.tokenizer.measure import compression, round_trip_failures, tokens_used
from training.tokenizer.merge import MergeResult


def test_unmerged_bytes_count_one_token_each(tiny_base: Tokenizer) -> None:
    # An English BPE has no merges for "~" or Cyrillic: "~~~~" is 4 tokens, "Ж" (2 bytes) is 2.
    measured = compression(tiny_base, ["~~~~", "Ж"])
    assert (measured.chars, measured.tokens) == (5, 6)
    assert measured.chars_per_token == 5 / 6


def test_round_trip_catches_a_lossy_decoder(tiny_base: Tokenizer, ru_texts: list[str]) -> None:
    assert round_trip_failures(tiny_base, ru_texts) == []
    lossy = Tokenizer.from_str(tiny_base.to_str())
    lossy.decoder = decoders.WordPiece()  # joins byte symbols without decoding them
    assert len(round_trip_failures(lossy, ru_texts)) == len(ru_texts)


def test_tokens_used_counts_distinct_ids_above_the_base(
    tiny_merged: MergeResult,
    ru_texts: list[str],
) -> None:
    used = tokens_used(tiny_merged.tokenizer, ru_texts, tiny_merged.first_new_id)
    assert 0 < used <= len(tiny_merged.added_tokens)
    assert tokens_used(tiny_merged.tokenizer, ["the"], tiny_merged.first_new_id) == 0
