"""A tiny Llama and a BPE tokenizer trained on the given text, saved as a checkpoint folder."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from tests.training.tiny_models import tiny_causal_lm

SPECIALS = ["<bos>", "<eos>", "<pad>"]


def tiny_tokenizer(texts: Sequence[str], vocab_size: int = 400) -> PreTrainedTokenizerFast:
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(texts, trainer)
    # Like Llama and Gemma: BOS in front of every encoded text.
    backend.post_processor = processors.TemplateProcessing(
        single="<bos> $A", special_tokens=[("<bos>", backend.token_to_id("<bos>"))]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="<bos>", eos_token="<eos>", pad_token="<pad>"
    )


def build_tiny_lm(folder: Path, texts: Sequence[str], *, seed: int = 0) -> Path:
    """A 2-layer Llama (hidden 64) with its tokenizer in `folder`; returns `folder`."""
    tokenizer = tiny_tokenizer(texts)
    model = tiny_causal_lm(len(tokenizer), kind="llama", tied=False, tokenizer=tokenizer, seed=seed)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
