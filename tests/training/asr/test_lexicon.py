from __future__ import annotations

from pathlib import Path

import pytest

from training.asr.lexicon import build_lexicon, normalize_word, read_glossary


def test_normalize_folds_case_yo_and_outer_punctuation() -> None:
    assert normalize_word("«Ёлка,»") == "елка"
    assert normalize_word("ИТМО.") == "итмо"


def test_lexicon_holds_frequent_words_and_glossary_terms(tmp_path: Path) -> None:
    glossary = tmp_path / "terms.txt"
    glossary.write_text("ИТМО  # university\n\nQdrant\n", encoding="utf-8")
    lexicon = build_lexicon("ru", 20_000, glossary)
    assert "встреча" in lexicon
    assert "Встречи" in lexicon
    assert "ИТМО" in lexicon and "итмо" in lexicon
    assert lexicon.display("итмо") == "ИТМО"
    assert "этмо" not in lexicon
    # Numbers and punctuation are not words of the dictionary.
    assert not any(w.isdigit() for w in lexicon.words)


def test_glossary_only_lexicon(tmp_path: Path) -> None:
    glossary = tmp_path / "terms.txt"
    glossary.write_text("Minuta\n", encoding="utf-8")
    lexicon = build_lexicon("en", 0, glossary)
    assert lexicon.words == frozenset()
    assert read_glossary(glossary) == {"minuta": "Minuta"}


def test_unknown_language_and_missing_glossary_say_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lexicon_size: 0"):
        build_lexicon("xx", 10)
    with pytest.raises(FileNotFoundError, match="one term per line"):
        build_lexicon("en", 10, tmp_path / "none.txt")
