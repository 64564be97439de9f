"""Typed loader of the labelled set for minutes extraction (issue 20).

One YAML file per meeting: ``qmsum/<id>.yaml`` (gold written from QMSum's query answers and the
transcript; the transcript itself stays in ``../shared/data`` and is referred to by file and
meeting id) and ``scripted/<id>.yaml`` (a scripted meeting: speakers with voices, turns, gold).
Every gold item carries a short verbatim quote and the index of the utterance (QMSum) or turn
(script) it comes from; ``tests/benchmarks/test_extraction_set.py`` checks that each quote is in
its utterance. QMSum meetings are long (300-900 utterances): their gold is complete only on
``labelled_spans`` (the query spans and the closing task assignments that were read), so score
extraction on those spans; a scripted meeting is labelled whole.

    from benchmarks.extraction_set.dataset import load_meetings, utterances
    for m in load_meetings():
        lines = utterances(m)   # [Utterance(speaker, text)], QMSum or script
"""

from __future__ import annotations

import json
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

SET_DIR = Path(__file__).resolve().parent
REPO = SET_DIR.parents[1]
SHARED_DATA = Path(os.environ.get("MINUTA_SHARED_DATA", REPO.parent / "shared" / "data"))

Language = Literal["en", "ru"]
Split = Literal["dev", "heldout"]
DistractorKind = Literal["suggestion", "rejected", "question", "musing"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Evidence(_Strict):
    """A verbatim quote (whitespace/case-normalised) from one utterance or script turn."""

    utterance: int = Field(ge=0, description="QMSum utterance index or script turn index")
    quote: str = Field(min_length=3)
    time_s: float | None = Field(default=None, description="start time, when known (rendered)")


class Decision(_Strict):
    text: str
    evidence: Evidence


class ActionItem(_Strict):
    owner: str = Field(description="a speaker of the meeting or a name said in it")
    co_owners: list[str] = Field(default_factory=list, description="others who share the task")
    task: str
    due: str | None = Field(description="as said in the meeting, null when none was said")
    evidence: Evidence


class Distractor(_Strict):
    """Something said that must NOT become a decision or an action item."""

    kind: DistractorKind
    text: str
    evidence: Evidence


class TranscriptRef(_Strict):
    kind: Literal["qmsum", "script"]
    file: str | None = Field(
        default=None, description="QMSum: jsonl path relative to ../shared/data"
    )
    meeting_id: str


class ScriptSpeaker(_Strict):
    """A speaker of a scripted meeting; the key in ``Script.speakers`` is the name said."""

    voice: str = Field(description="espeak-ng voice (en+f3) or rhvoice:<voice> for Russian")
    pitch: int = 50
    speed: int = 160
    gain_db: float = 0.0


class ScriptTurn(_Strict):
    speaker: str
    text: str


class Script(_Strict):
    title: str
    speakers: dict[str, ScriptSpeaker]
    turns: list[ScriptTurn]

    @model_validator(mode="after")
    def _known_speakers(self) -> Script:
        unknown = {t.speaker for t in self.turns} - set(self.speakers)
        if unknown:
            raise ValueError(f"turns by unknown speakers: {sorted(unknown)}")
        return self


class Meeting(_Strict):
    id: str
    language: Language
    source: Literal["qmsum", "scripted"]
    split: Split
    transcript: TranscriptRef
    queries: list[str] = Field(default_factory=list, description="QMSum queries the gold came from")
    labelled_spans: list[tuple[int, int]] | None = Field(
        default=None,
        description="inclusive utterance ranges that were read and labelled completely "
        "(QMSum meetings are long: score extraction on these spans); None = whole transcript",
    )
    script: Script | None = None
    decisions: list[Decision]
    action_items: list[ActionItem]
    distractors: list[Distractor]

    @model_validator(mode="after")
    def _source_matches(self) -> Meeting:
        if (self.source == "scripted") != (self.script is not None):
            raise ValueError("a scripted meeting has a script, a QMSum meeting has none")
        if self.source == "qmsum" and not (
            self.transcript.kind == "qmsum" and self.transcript.file
        ):
            raise ValueError("a QMSum meeting refers to its jsonl file")
        return self


class Utterance(BaseModel):
    speaker: str
    text: str


def load_meetings(root: Path = SET_DIR) -> list[Meeting]:
    """All meetings of the set, QMSum first, each group sorted by id."""
    out: list[Meeting] = []
    for sub in ("qmsum", "scripted"):
        for path in sorted((root / sub).glob("*.yaml")):
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
            meeting = Meeting.model_validate(data)
            if meeting.id != path.stem:
                raise ValueError(f"{path}: id {meeting.id!r} is not the file name")
            out.append(meeting)
    return out


@lru_cache(maxsize=4)
def _qmsum_file(path: str) -> dict[str, list[Utterance]]:
    meetings: dict[str, list[Utterance]] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            meetings[row["id"]] = [
                Utterance(speaker=u["speaker"], text=u["content"])
                for u in row["meeting_transcripts"]
            ]
    return meetings


def utterances(meeting: Meeting, shared_data: Path = SHARED_DATA) -> list[Utterance]:
    """The meeting's transcript: QMSum utterances (from ../shared/data) or the script's turns."""
    if meeting.script is not None:
        return [Utterance(speaker=t.speaker, text=t.text) for t in meeting.script.turns]
    assert meeting.transcript.file is not None
    return _qmsum_file(str(shared_data / meeting.transcript.file))[meeting.transcript.meeting_id]


def in_labelled_spans(meeting: Meeting, index: int) -> bool:
    spans = meeting.labelled_spans
    return spans is None or any(a <= index <= b for a, b in spans)


def normalise(text: str) -> str:
    """Case- and whitespace-insensitive form used to match evidence quotes."""
    return re.sub(r"\s+", " ", text).strip().casefold()


def quote_found(quote: str, utterance: str) -> bool:
    return normalise(quote) in normalise(utterance)
