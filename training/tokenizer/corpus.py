"""Text sources for tokenizer training and evaluation: plain-text files, JSONL fields, word tables.

BPE training only counts pre-tokenized words, so a (word, count) table from `wordfreq` trains the
same tokenizer as a running corpus with those word counts; it stands in for a Russian corpus on a
machine without one. Text and JSONL files are the real corpora of a GPU run.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from training.errors import TrainingError
from training.jsonl import iter_jsonl

# Words per yielded chunk of a word table: big enough to keep the trainer's iterator cheap.
_CHUNK_WORDS = 2048


class TextFileSource(BaseModel):
    """Every non-empty line of a UTF-8 text file."""

    kind: Literal["text"] = "text"
    path: Path
    # A regex removed from every line, e.g. the timing prefix of a transcript line.
    strip: str | None = None
    max_chars: int | None = None


class JsonlSource(BaseModel):
    """One field of every JSONL record; a dotted `field` walks into objects and lists."""

    kind: Literal["jsonl"] = "jsonl"
    path: Path
    field: str = "text"
    # A regex removed from every value, e.g. QMSum's `{disfmarker}` tags: r"\{\w+\}".
    strip: str | None = None
    max_chars: int | None = None


class WordfreqSource(BaseModel):
    """The `top_n` words of a `wordfreq` language table, repeated by frequency."""

    kind: Literal["wordfreq"] = "wordfreq"
    language: str
    top_n: int = Field(default=50_000, gt=0)
    # Size of the corpus the table stands for; each word appears round(frequency × total) times.
    total_words: int = Field(default=2_000_000, gt=0)
    # The tables are lower-cased; real text capitalizes sentence starts and names.
    capitalized_share: float = Field(default=0.1, ge=0.0, le=1.0)


CorpusSource = Annotated[TextFileSource | JsonlSource | WordfreqSource, Field(discriminator="kind")]


class CorpusError(TrainingError, ValueError):
    """A corpus source is missing or unreadable."""


def _clean(text: str, strip: re.Pattern[str] | None) -> str:
    if strip is not None:
        text = strip.sub("", text)
    return " ".join(text.split())


def _field_values(value: Any, keys: list[str]) -> Iterator[str]:
    if isinstance(value, list):
        for item in value:
            yield from _field_values(item, keys)
    elif not keys:
        if isinstance(value, str):
            yield value
    elif isinstance(value, dict) and keys[0] in value:
        yield from _field_values(value[keys[0]], keys[1:])


def _limited(texts: Iterable[str], max_chars: int | None) -> Iterator[str]:
    total = 0
    for text in texts:
        if max_chars is not None and total >= max_chars:
            return
        total += len(text)
        yield text


def _require(path: Path) -> None:
    if not path.is_file():
        raise CorpusError(f"{path}: corpus file not found (paths are relative to the working dir)")


def _text_lines(source: TextFileSource) -> Iterator[str]:
    _require(source.path)
    strip = re.compile(source.strip) if source.strip else None
    with source.path.open(encoding="utf-8") as handle:
        for line in handle:
            if text := _clean(line, strip):
                yield text


def _jsonl_values(source: JsonlSource) -> Iterator[str]:
    _require(source.path)
    strip = re.compile(source.strip) if source.strip else None
    keys = source.field.split(".")
    for _, record in iter_jsonl(source.path, CorpusError):
        for value in _field_values(record, keys):
            if text := _clean(value, strip):
                yield text


def word_counts(source: WordfreqSource) -> dict[str, int]:
    """The table as word → count, capitalized variants included."""
    import wordfreq

    counts: dict[str, int] = {}
    for word in wordfreq.top_n_list(source.language, source.top_n):
        count = max(1, round(wordfreq.word_frequency(word, source.language) * source.total_words))
        capitalized = round(count * source.capitalized_share)
        counts[word] = counts.get(word, 0) + count - capitalized
        if capitalized and word.capitalize() != word:
            counts[word.capitalize()] = counts.get(word.capitalize(), 0) + capitalized
    if not counts:
        raise CorpusError(f"wordfreq has no words for language {source.language!r}")
    return counts


def _word_table_text(source: WordfreqSource) -> Iterator[str]:
    # A leading space makes each word a mid-sentence word, as most words in running text are.
    for word, count in word_counts(source).items():
        for start in range(0, count, _CHUNK_WORDS):
            yield f" {word}" * min(_CHUNK_WORDS, count - start)


def iter_source(source: TextFileSource | JsonlSource | WordfreqSource) -> Iterator[str]:
    """The texts of one source, in file order."""
    if isinstance(source, TextFileSource):
        return _limited(_text_lines(source), source.max_chars)
    if isinstance(source, JsonlSource):
        return _limited(_jsonl_values(source), source.max_chars)
    return _word_table_text(source)


def iter_corpus(sources: Iterable[TextFileSource | JsonlSource | WordfreqSource]) -> Iterator[str]:
    for source in sources:
        yield from iter_source(source)


def source_files(sources: Iterable[TextFileSource | JsonlSource | WordfreqSource]) -> set[Path]:
    """The files behind `sources`, resolved, to prove evaluation text is kept out of training."""
    return {
        source.path.resolve()
        for source in sources
        if isinstance(source, TextFileSource | JsonlSource)
    }
