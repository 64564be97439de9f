"""The new tokenizer is of the base's kind; other kinds are refused with a clear message."""

from __future__ import annotations

import pytest
from tokenizers import Tokenizer, models, pre_tokenizers

from tests.training.tokenizer.conftest import russian_words
from training.tokenizer.corpus import iter_source
from training.tokenizer.train import UnsupportedTokenizer, train_like


def test_new_tokenizer_shares_pre_tokenization(tiny_base: Tokenizer, tiny_new: Tokenizer) -> None:
    assert tiny_new.get_vocab_size() == 900
    text = "Сейчас... Сию минуту, Иван Васильевич."
    assert tiny_new.pre_tokenizer.pre_tokenize_str(
        text
    ) == tiny_base.pre_tokenizer.pre_tokenize_str(text)
    # Trained on Russian, it spells common Russian words with fewer tokens than the English base.
    words = " только что сейчас говорите"
    assert len(tiny_new.encode(words).ids) < len(tiny_base.encode(words).ids)


def test_non_byte_level_base_is_refused() -> None:
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    with pytest.raises(UnsupportedTokenizer, match="only BPE"):
        train_like(wordpiece, ["привет"], 300)
    metaspace = Tokenizer(models.BPE())
    metaspace.pre_tokenizer = pre_tokenizers.Metaspace()
    with pytest.raises(UnsupportedTokenizer, match="not byte-level"):
        train_like(metaspace, iter_source(russian_words(100)), 300)
