"""Tokenizers for the tokenizer-adaptation tests: a tiny byte-level base and Russian BPEs."""

from __future__ import annotations

from pathlib import Path

import pytest
from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers

from training.tokenizer.corpus import JsonlSource, TextFileSource, WordfreqSource, iter_source
from training.tokenizer.merge import MergeResult, merge_tokenizers
from training.tokenizer.train import train_like

RU_PREFIX = r"^\[[^\]]*\]\s*\([^)]*\)\s*\w+\s*\[\w+\]:\s*"


def ru_eval_source(data_dir: Path) -> TextFileSource:
    path = data_dir / "synthetic_meetings" / "synth_ru_meeting" / "synth_ru_meeting.ref.txt"
    return TextFileSource(path=path, strip=RU_PREFIX)


def en_eval_source(data_dir: Path, max_chars: int = 30_000) -> JsonlSource:
    return JsonlSource(
        path=data_dir / "summarization" / "qmsum_val.jsonl",
        field="meeting_transcripts.content",
        strip=r"\{\w+\}",
        max_chars=max_chars,
    )


@pytest.fixture(scope="session")
def ru_texts(data_dir: Path) -> list[str]:
    return list(iter_source(ru_eval_source(data_dir)))


@pytest.fixture(scope="session")
def en_texts(data_dir: Path) -> list[str]:
    return list(iter_source(en_eval_source(data_dir)))


@pytest.fixture(scope="session")
def tiny_base(data_dir: Path) -> Tokenizer:
    """A 600-token GPT-2-style byte-level BPE trained on English meeting text, plus one special."""
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    english = JsonlSource(
        path=data_dir / "summarization" / "qmsum_train.jsonl",
        field="meeting_transcripts.content",
        strip=r"\{\w+\}",
        max_chars=100_000,
    )
    trainer = trainers.BpeTrainer(
        vocab_size=600,
        show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tokenizer.train_from_iterator(iter_source(english), trainer=trainer)
    tokenizer.add_special_tokens([AddedToken("<|endoftext|>", special=True)])
    return tokenizer


def russian_words(top_n: int) -> WordfreqSource:
    return WordfreqSource(language="ru", top_n=top_n, total_words=200_000)


@pytest.fixture(scope="session")
def tiny_new(tiny_base: Tokenizer) -> Tokenizer:
    return train_like(tiny_base, iter_source(russian_words(3000)), 900, show_progress=False)


@pytest.fixture(scope="session")
def tiny_merged(tiny_base: Tokenizer, tiny_new: Tokenizer) -> MergeResult:
    return merge_tokenizers(tiny_base, tiny_new)


@pytest.fixture(scope="session")
def qwen_dir() -> Path:
    from training.base_models import packaged_checkpoint

    return packaged_checkpoint("qwen2.5-coder-0.5b-instruct")


@pytest.fixture(scope="session")
def qwen_base(qwen_dir: Path) -> Tokenizer:
    return Tokenizer.from_file(str(qwen_dir / "tokenizer.json"))


@pytest.fixture(scope="session")
def qwen_merged(qwen_base: Tokenizer) -> MergeResult:
    new = train_like(qwen_base, iter_source(russian_words(20_000)), 4000, show_progress=False)
    return merge_tokenizers(qwen_base, new)
