"""The ASR training manifest: one JSON line per audio clip, with the words a person should check.

A person reviews the flagged rows (edits `text`, sets `needs_review` to false) in a copy of the
manifest; `apply_review` takes those edits, and `apply_corrections` fixes a word everywhere
(e.g. every "ЭТМО" → "ИТМО") before training.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError

from training.errors import TrainingError


class ManifestError(TrainingError, ValueError):
    """A manifest or corrections file cannot be read; the message says which line and why."""


class WordFlag(BaseModel):
    word: str
    suggestions: list[str] = Field(default_factory=list)
    # "near_dictionary": not in the dictionary but a few edits from an entry;
    # "low_probability": Whisper was unsure; "unknown": not in the dictionary, nothing close.
    reason: str
    probability: float | None = None


class ManifestRow(BaseModel):
    audio: str
    start: float
    end: float
    text: str
    language: str
    flags: list[WordFlag] = Field(default_factory=list)
    needs_review: bool = False

    @property
    def key(self) -> tuple[str, float, float]:
        # Rounded so a reviewer's editor re-serialising floats does not break the match.
        return (self.audio, round(self.start, 2), round(self.end, 2))

    @property
    def duration(self) -> float:
        return self.end - self.start


def write_manifest(rows: Iterable[ManifestRow], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as sink:
        for row in rows:
            sink.write(row.model_dump_json() + "\n")
    return path


def read_manifest(path: Path) -> list[ManifestRow]:
    if not path.is_file():
        raise ManifestError(f"{path}: no such manifest; run the asr-data stage to write one")
    rows: list[ManifestRow] = []
    with path.open(encoding="utf-8") as source:
        for number, line in enumerate(source, start=1):
            if not line.strip():
                continue
            try:
                rows.append(ManifestRow.model_validate(json.loads(line)))
            except (json.JSONDecodeError, ValidationError) as exc:
                raise ManifestError(
                    f"{path}:{number}: not a manifest row ({exc.__class__.__name__}: "
                    f"{str(exc).splitlines()[0]}); fix or delete that line"
                ) from exc
    return rows


def apply_review(rows: list[ManifestRow], reviewed: list[ManifestRow]) -> list[ManifestRow]:
    """Rows with a reviewed twin (same audio, start, end) take the reviewed text and status."""
    by_key = {row.key: row for row in reviewed}
    return [by_key.get(row.key, row) for row in rows]


def read_corrections(path: Path) -> dict[str, str]:
    """A mapping of wrong word → right word, from a JSON or YAML file."""
    if not path.is_file():
        raise ManifestError(f"{path}: no such corrections file")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not JSON or YAML: {exc}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in data.items()
    ):
        raise ManifestError(f'{path}: expected a mapping of word to word, e.g. {{"ЭТМО": "ИТМО"}}')
    return data


def apply_corrections(rows: list[ManifestRow], corrections: Mapping[str, str]) -> list[ManifestRow]:
    """Replace whole words (case-insensitively); a corrected flag no longer needs review."""
    if not corrections:
        return rows
    lowered = {wrong.casefold(): right for wrong, right in corrections.items()}
    pattern = re.compile(
        r"(?<!\w)("
        + "|".join(re.escape(w) for w in sorted(lowered, key=len, reverse=True))
        + r")(?!\w)",
        re.IGNORECASE,
    )
    out: list[ManifestRow] = []
    for row in rows:
        text = pattern.sub(lambda m: lowered[m.group(0).casefold()], row.text)
        flags = [f for f in row.flags if f.word.casefold() not in lowered]
        out.append(
            row.model_copy(
                update={
                    "text": text,
                    "flags": flags,
                    "needs_review": row.needs_review and bool(flags),
                }
            )
        )
    return out


def training_rows(rows: list[ManifestRow], include_unreviewed: bool) -> list[ManifestRow]:
    """The rows fit to train on: reviewed ones, plus flagged ones only when asked."""
    return [r for r in rows if r.text.strip() and (include_unreviewed or not r.needs_review)]
