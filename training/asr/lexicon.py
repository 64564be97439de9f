"""The dictionary doubtful words are checked against: frequent words of a language + a glossary.

The frequent words come from the `wordfreq` package (its lists ship inside the package). The
glossary is a text file with one domain term per line ("ИТМО", "Qdrant"); `#` starts a comment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import wordfreq


def normalize_word(word: str) -> str:
    """The form words are compared in: case-folded, ё read as е, outer punctuation dropped."""
    return word.strip(" \t.,;:!?\"'«»()[]{}…-—").casefold().replace("ё", "е")


@dataclass(frozen=True)
class Lexicon:
    language: str
    # Normalized words of the language.
    words: frozenset[str]
    # Normalized glossary term → the term as written in the glossary (the suggestion shown).
    glossary: dict[str, str] = field(default_factory=dict)

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        key = normalize_word(word)
        return key in self.words or key in self.glossary

    def display(self, normalized: str) -> str:
        """How an entry is suggested: glossary terms keep their spelling (ИТМО, not итмо)."""
        return self.glossary.get(normalized, normalized)


def read_glossary(path: Path) -> dict[str, str]:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: no such glossary; give a text file with one term per line or leave "
            "`glossary` out"
        )
    terms: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        term = line.split("#", 1)[0].strip()
        if term:
            terms[normalize_word(term)] = term
    return terms


def frequent_words(language: str, size: int) -> frozenset[str]:
    """The `size` most frequent words of `language`; letters only (numbers are not words)."""
    if size == 0:
        return frozenset()
    if language not in wordfreq.available_languages():
        raise ValueError(
            f"wordfreq has no word list for language {language!r}; use a glossary only "
            "(lexicon_size: 0) or one of: " + ", ".join(sorted(wordfreq.available_languages()))
        )
    words = (normalize_word(w) for w in wordfreq.top_n_list(language, size))
    return frozenset(w for w in words if w and any(ch.isalpha() for ch in w))


def build_lexicon(language: str, size: int, glossary: Path | None = None) -> Lexicon:
    terms = read_glossary(glossary) if glossary is not None else {}
    return Lexicon(language=language, words=frequent_words(language, size), glossary=terms)
