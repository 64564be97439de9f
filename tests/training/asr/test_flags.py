from __future__ import annotations

import pytest

from training.asr.flags import Flagger, FlagOptions
from training.asr.lexicon import Lexicon, build_lexicon, frequent_words


@pytest.fixture(scope="module")
def russian() -> Flagger:
    lexicon = Lexicon(language="ru", words=frequent_words("ru", 50_000), glossary={"итмо": "ИТМО"})
    return Flagger(lexicon, FlagOptions())


def test_misheard_university_name_is_flagged_with_the_glossary_term(russian: Flagger) -> None:
    flags = russian.flag_text("Студенты ЭТМО обсудили бюджет проекта на встрече.")
    assert [f.word for f in flags] == ["ЭТМО"]
    assert flags[0].reason == "near_dictionary"
    assert flags[0].suggestions[0] == "ИТМО"


def test_clean_text_and_numbers_are_not_flagged(russian: Flagger) -> None:
    assert russian.flag_text("В ИТМО решили перенести встречу на 25 марта.") == []


def test_low_probability_is_a_second_reason(russian: Flagger) -> None:
    flags = russian.flag([(" встреча", 0.9), (" бюджет", 0.1), (" да", 0.05)])
    assert [(f.word, f.reason) for f in flags] == [
        ("бюджет", "low_probability"),
        ("да", "low_probability"),
    ]
    assert flags[0].probability == pytest.approx(0.1)


def test_edit_bound_is_tighter_for_short_words(russian: Flagger) -> None:
    assert russian.edit_bound("итмо") == 1
    assert russian.edit_bound("университет") == 2
    # Three edits from every entry: a new name, not a near-miss.
    assert russian.flag_text("Жмыхендорф") == []


def test_unknown_words_without_suggestions_on_request() -> None:
    lexicon = build_lexicon("en", 20_000)
    flagger = Flagger(lexicon, FlagOptions(flag_unknown_without_suggestions=True))
    flags = flagger.flag_text("We met Zxqwvbn about the budgett")
    by_word = {f.word: f for f in flags}
    assert by_word["Zxqwvbn"].reason == "unknown"
    assert by_word["budgett"].reason == "near_dictionary"
    assert "budget" in by_word["budgett"].suggestions
