"""Flag pseudo-labelled words a person should check: near-misses of dictionary words, unsure words.

A word that is not in the dictionary but a few edits from an entry is most likely a
misrecognition of that entry ("ЭТМО" → "ИТМО"): it is flagged with the entries as suggestions.
A word Whisper gave a low probability is flagged too, so a person listens to that spot.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property

from rapidfuzz import process
from rapidfuzz.distance import Levenshtein

from training.asr.lexicon import Lexicon, normalize_word
from training.asr.manifest import WordFlag

# Letters only, with inner hyphens or apostrophes ("кто-то", "don't"); numbers are never flagged.
_WORD = re.compile(r"[^\W\d_]+(?:[-'’][^\W\d_]+)*")


@dataclass(frozen=True)
class FlagOptions:
    max_edits: int = 2
    # Words up to this many letters allow one edit only: short words are all close to each other.
    short_word_length: int = 5
    min_word_length: int = 3
    min_word_probability: float | None = 0.4
    flag_unknown_without_suggestions: bool = False
    max_suggestions: int = 3


class Flagger:
    """Finds flags in words against one lexicon; built once, used for every row."""

    def __init__(self, lexicon: Lexicon, options: FlagOptions) -> None:
        self.lexicon = lexicon
        self.options = options

    @cached_property
    def _choices(self) -> list[str]:
        # Glossary first so that, at equal distance, the domain term is the first suggestion.
        glossary = list(self.lexicon.glossary)
        return glossary + sorted(self.lexicon.words.difference(glossary))

    def edit_bound(self, word: str) -> int:
        return min(self.options.max_edits, 1 if len(word) <= self.options.short_word_length else 2)

    def suggestions(self, word: str) -> list[str]:
        """Dictionary entries within the edit bound of `word`, nearest (then glossary) first."""
        key = normalize_word(word)
        bound = self.edit_bound(key)
        if bound == 0 or not self._choices:
            return []
        found = process.extract(
            key,
            self._choices,
            scorer=Levenshtein.distance,
            score_cutoff=bound,
            limit=self.options.max_suggestions + 1,
        )
        ranked = sorted((int(score), index, choice) for choice, score, index in found)
        out = [self.lexicon.display(choice) for _, _, choice in ranked if choice != key]
        return out[: self.options.max_suggestions]

    def flag(self, words: Sequence[tuple[str, float | None]]) -> list[WordFlag]:
        """Flags for a row's words, each given with Whisper's probability (or None)."""
        flags: list[WordFlag] = []
        seen: set[tuple[str, str]] = set()
        for raw, probability in words:
            for word in _WORD.findall(raw):
                flag = self._flag_one(word, probability)
                if flag is not None and (flag.word, flag.reason) not in seen:
                    seen.add((flag.word, flag.reason))
                    flags.append(flag)
        return flags

    def _flag_one(self, word: str, probability: float | None) -> WordFlag | None:
        threshold = self.options.min_word_probability
        unsure = threshold is not None and probability is not None and probability < threshold
        if len(word) < self.options.min_word_length:
            # Too short to judge by spelling; Whisper's doubt still counts.
            if not unsure:
                return None
            return WordFlag(word=word, reason="low_probability", probability=probability)
        known = word in self.lexicon
        # A known word's neighbours are other real words, not corrections: none are offered.
        suggestions = [] if known else self.suggestions(word)
        if not known and suggestions:
            reason = "near_dictionary"
        elif unsure:
            reason = "low_probability"
        elif not known and self.options.flag_unknown_without_suggestions:
            reason = "unknown"
        else:
            return None
        return WordFlag(word=word, suggestions=suggestions, reason=reason, probability=probability)

    def flag_text(self, text: str) -> list[WordFlag]:
        return self.flag([(text, None)])
