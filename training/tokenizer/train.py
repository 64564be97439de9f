"""Train a new BPE tokenizer of the base's kind: same normalizer, pre-tokenizer and byte alphabet.

Sharing the base's pre-tokenization and byte-level alphabet is what lets the new tokens and
merges be appended to the base tokenizer later (merge.py): both split text into the same words
and the same initial symbols.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from training.errors import TrainingError


class UnsupportedTokenizer(TrainingError, ValueError):
    """The base tokenizer is not a kind this stage can extend."""


def _has_byte_level(component: dict[str, Any] | None) -> bool:
    if not component:
        return False
    if component.get("type") == "ByteLevel":
        return True
    return any(_has_byte_level(part) for part in component.get("pretokenizers", []))


def check_byte_level_bpe(base: Tokenizer) -> dict[str, Any]:
    """The base's model settings; raises unless it is a byte-level BPE (GPT-2, Qwen, Llama 3)."""
    spec = json.loads(base.to_str())
    model = spec.get("model", {})
    if model.get("type") != "BPE":
        raise UnsupportedTokenizer(
            f"base tokenizer model is {model.get('type')!r}; only BPE tokenizers can be extended"
        )
    if not _has_byte_level(spec.get("pre_tokenizer")):
        raise UnsupportedTokenizer(
            "base tokenizer is not byte-level BPE (no ByteLevel pre-tokenizer); "
            "SentencePiece-style BPE (Llama 2, Gemma) is not supported by this stage"
        )
    if model.get("continuing_subword_prefix") or model.get("end_of_word_suffix"):
        raise UnsupportedTokenizer("base BPE uses subword prefixes/suffixes; not supported")
    return dict(model)


def train_like(
    base: Tokenizer,
    texts: Iterable[str],
    vocab_size: int,
    min_frequency: int = 2,
    show_progress: bool = True,
) -> Tokenizer:
    """A byte-level BPE of `vocab_size` tokens trained on `texts`, pre-tokenized like `base`."""
    settings = check_byte_level_bpe(base)
    new = Tokenizer(models.BPE(ignore_merges=bool(settings.get("ignore_merges", False))))
    new.normalizer = base.normalizer
    new.pre_tokenizer = base.pre_tokenizer
    new.decoder = base.decoder
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        show_progress=show_progress,
        special_tokens=[],
        # All 256 byte symbols, so every merge's parts exist in the base vocabulary too.
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    new.train_from_iterator(texts, trainer=trainer)
    return new
