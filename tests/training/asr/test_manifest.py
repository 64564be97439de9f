from __future__ import annotations

from pathlib import Path

import pytest

from training.asr.manifest import (
    ManifestError,
    ManifestRow,
    WordFlag,
    apply_corrections,
    apply_review,
    read_corrections,
    read_manifest,
    training_rows,
    write_manifest,
)


def _rows() -> list[ManifestRow]:
    flag = WordFlag(word="ЭТМО", suggestions=["ИТМО"], reason="near_dictionary")
    return [
        ManifestRow(
            audio="a.wav",
            start=0.0,
            end=4.2,
            text="Встреча в ЭТМО.",
            language="ru",
            flags=[flag],
            needs_review=True,
        ),
        ManifestRow(audio="a.wav", start=5.0, end=9.0, text="Бюджет утвердили.", language="ru"),
        ManifestRow(
            audio="b.wav",
            start=0.0,
            end=3.0,
            text="Спросите этмо-центр",
            language="ru",
            flags=[flag],
            needs_review=True,
        ),
    ]


def test_manifest_round_trips(tmp_path: Path) -> None:
    path = write_manifest(_rows(), tmp_path / "m.jsonl")
    assert read_manifest(path) == _rows()
    assert path.read_text(encoding="utf-8").count("\n") == 3


def test_bad_line_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(_rows()[0].model_dump_json() + '\n{"audio": 1}\n', encoding="utf-8")
    with pytest.raises(ManifestError, match=r"m\.jsonl:2"):
        read_manifest(path)


def test_review_replaces_matching_rows_only() -> None:
    reviewed = _rows()[0].model_copy(
        update={"text": "Встреча в ИТМО.", "needs_review": False, "start": 0.0001}
    )
    rows = apply_review(_rows(), [reviewed])
    assert rows[0].text == "Встреча в ИТМО." and not rows[0].needs_review
    assert rows[1:] == _rows()[1:]
    assert [r.text for r in training_rows(rows, include_unreviewed=False)] == [
        "Встреча в ИТМО.",
        "Бюджет утвердили.",
    ]
    assert len(training_rows(rows, include_unreviewed=True)) == 3


def test_corrections_replace_whole_words_and_clear_the_flag(tmp_path: Path) -> None:
    path = tmp_path / "fix.yaml"
    path.write_text("ЭТМО: ИТМО\n", encoding="utf-8")
    rows = apply_corrections(_rows(), read_corrections(path))
    assert rows[0].text == "Встреча в ИТМО." and rows[0].flags == [] and not rows[0].needs_review
    # Case-insensitive, whole word: the hyphenated compound is corrected too.
    assert rows[2].text == "Спросите ИТМО-центр"


def test_corrections_file_must_map_words(tmp_path: Path) -> None:
    path = tmp_path / "fix.yaml"
    path.write_text("- ЭТМО\n", encoding="utf-8")
    with pytest.raises(ManifestError, match="mapping of word to word"):
        read_corrections(path)
