"""Corpus sources read the real files and the word table as the tokenizer trainer needs them."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import TypeAdapter

from tests.training.tokenizer.conftest import en_eval_source, ru_eval_source, russian_words
from training.tokenizer.corpus import (
    CorpusError,
    CorpusSource,
    JsonlSource,
    TextFileSource,
    iter_corpus,
    iter_source,
    source_files,
    word_counts,
)


def test_transcript_prefix_is_stripped(data_dir: Path) -> None:
    lines = list(iter_source(ru_eval_source(data_dir)))
    assert lines[0] == "Ах, да не размазывайте, мамочка! Говорите сразу! Ну?"
    assert len(lines) == 22
    assert not any(line.startswith("[") or "[ru]" in line for line in lines)


def test_jsonl_walks_nested_lists_and_strips_tags(data_dir: Path) -> None:
    texts = list(iter_source(en_eval_source(data_dir, max_chars=5000)))
    assert len(texts) > 20
    assert not any("{" in text for text in texts)
    # The limit stops after the text that crosses it.
    assert 5000 <= sum(map(len, texts)) < 5000 + max(map(len, texts))
    refs = JsonlSource(path=data_dir / "audio" / "asr_ru" / "references.jsonl", field="text")
    assert list(iter_source(refs))[1] == "нейронные сети это хорошо"


def test_word_table_counts_follow_frequency() -> None:
    counts = word_counts(russian_words(2000))
    assert counts["и"] > counts["только"] > 0
    # Capitalized variants carry about a tenth of a word's count.
    assert counts["Только"] == pytest.approx(counts["только"] / 9, rel=0.1)
    text = "".join(iter_source(russian_words(2000)))
    assert text.split().count("только") == counts["только"]


def test_sources_parse_from_config_dicts(tmp_path: Path) -> None:
    adapter = TypeAdapter(list[CorpusSource])
    sources = adapter.validate_python(
        [{"kind": "text", "path": str(tmp_path / "a.txt")}, {"kind": "wordfreq", "language": "ru"}]
    )
    assert isinstance(sources[0], TextFileSource)
    assert source_files(sources) == {(tmp_path / "a.txt").resolve()}


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"a\.txt"):
        list(iter_corpus([TextFileSource(path=tmp_path / "a.txt")]))


def test_bad_jsonl_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"text": "ok"}\nnot json\n', encoding="utf-8")
    with pytest.raises(CorpusError, match=r"bad\.jsonl:2"):
        list(iter_source(JsonlSource(path=path)))
