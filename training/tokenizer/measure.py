"""How well a tokenizer compresses held-apart text, and whether it gives the text back unchanged."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from tokenizers import Tokenizer


@dataclass
class Compression:
    chars: int
    tokens: int

    @property
    def chars_per_token(self) -> float:
        return self.chars / self.tokens if self.tokens else 0.0


def compression(tokenizer: Tokenizer, texts: Sequence[str]) -> Compression:
    """Characters per token over `texts`, without special tokens."""
    encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
    return Compression(
        chars=sum(len(text) for text in texts),
        tokens=sum(len(encoding.ids) for encoding in encodings),
    )


def chars_per_token_table(
    tokenizers: Mapping[str, Tokenizer], texts: Mapping[str, Sequence[str]]
) -> dict[str, float]:
    """`{text label}_chars_per_token_{tokenizer name}` for every pair."""
    return {
        f"{label}_chars_per_token_{name}": compression(tokenizer, sample).chars_per_token
        for label, sample in texts.items()
        for name, tokenizer in tokenizers.items()
    }


def round_trip_failures(tokenizer: Tokenizer, texts: Sequence[str]) -> list[str]:
    """The texts that do not decode back to themselves (after the tokenizer's normalizer)."""
    failures = []
    for text in texts:
        expected = tokenizer.normalizer.normalize_str(text) if tokenizer.normalizer else text
        ids = tokenizer.encode(text, add_special_tokens=False).ids
        if tokenizer.decode(ids, skip_special_tokens=False) != expected:
            failures.append(text)
    return failures


def tokens_used(tokenizer: Tokenizer, texts: Sequence[str], first_id: int) -> int:
    """How many distinct ids ≥ `first_id` (the added tokens) encoding `texts` produces."""
    used: set[int] = set()
    for encoding in tokenizer.encode_batch(list(texts), add_special_tokens=False):
        used.update(token_id for token_id in encoding.ids if token_id >= first_id)
    return len(used)
