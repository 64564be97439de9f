"""Read the transcript given to `minuta minutes`: a `minuta process --format json` file, or a
plain list of turns `[{"speaker": "Anna", "text": "...", "start": 0.0, "end": 4.2}, ...]`.

Turns without times get times estimated from their length, in order, so evidence still points
at the right turn.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from core.results import AudioInfo, Segment, Speaker, Topic

MAX_BYTES = 64 * 1024 * 1024
_SECONDS_PER_WORD = 0.4  # about 150 words a minute
_SHAPES = (
    "Give the JSON written by `minuta process --format json`, or a list of turns like "
    '[{"speaker": "Anna", "text": "Hello", "start": 0.0, "end": 1.5}] (start and end optional).'
)

Loaded = tuple[list[Segment], list[Topic], list[Speaker], str | None, float]


class _ProcessOutput(BaseModel):
    """The parts of `MeetingResult` the minutes need; the rest (minutes, timings) may be absent."""

    segments: list[Segment]
    topics: list[Topic] = Field(default_factory=list)
    speakers: list[Speaker] = Field(default_factory=list)
    audio: AudioInfo | None = None


def _bad(path: Path, problem: str) -> ValueError:
    return ValueError(f"{path}: {problem}. {_SHAPES}")


def _pydantic_problem(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first["loc"]) or "top level"
    more = f" (and {exc.error_count() - 1} more problems)" if exc.error_count() > 1 else ""
    return f"{where}: {first['msg']}{more}"


def guess_language(texts: list[str]) -> str | None:
    """'ru' when most letters are Cyrillic; otherwise unknown (the caller's default applies)."""
    letters = [ch for text in texts for ch in text if ch.isalpha()]
    if not letters:
        return None
    cyrillic = sum(1 for ch in letters if "\u0400" <= ch <= "\u04ff")
    return "ru" if cyrillic > 0.5 * len(letters) else None


def _from_result(path: Path, data: dict[str, Any]) -> Loaded:
    try:
        result = _ProcessOutput.model_validate(data)
    except ValidationError as exc:
        raise _bad(
            path, f"looks like `minuta process` output but {_pydantic_problem(exc)}"
        ) from None
    segments = sorted(result.segments, key=lambda s: (s.start, s.end))
    known = {s.id for s in result.speakers}
    speakers = list(result.speakers) + [
        Speaker(id=label)
        for label in dict.fromkeys(s.speaker for s in segments)
        if label not in known
    ]
    audio = result.audio
    duration = max([audio.duration if audio else 0.0, *(s.end for s in segments)])
    language = audio.language if audio else guess_language([s.text for s in segments])
    return segments, list(result.topics), speakers, language, duration


def _number(path: Path, index: int, item: dict[str, Any], key: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise _bad(path, f"turn {index}: {key!r} must be a number of seconds ≥ 0, not {value!r}")
    return float(value)


def _from_turns(path: Path, turns: list[Any]) -> Loaded:
    segments: list[Segment] = []
    clock = 0.0
    for index, item in enumerate(turns):
        if not isinstance(item, dict):
            raise _bad(path, f"turn {index} is {type(item).__name__}, not an object")
        speaker, text = item.get("speaker"), item.get("text")
        if not isinstance(speaker, str) or not speaker.strip():
            raise _bad(path, f'turn {index} has no "speaker" (a non-empty string)')
        if not isinstance(text, str):
            raise _bad(path, f'turn {index} has no "text" (a string)')
        if not text.strip():
            continue
        start = _number(path, index, item, "start")
        end = _number(path, index, item, "end")
        start = clock if start is None else start
        if end is None:
            end = start + max(1.0, len(text.split()) * _SECONDS_PER_WORD)
        if end < start:
            raise _bad(path, f"turn {index} ends ({end}) before it starts ({start})")
        segments.append(Segment(start=start, end=end, speaker=speaker.strip(), text=text.strip()))
        clock = max(clock, end)
    segments.sort(key=lambda s: (s.start, s.end))
    speakers = [Speaker(id=label) for label in dict.fromkeys(s.speaker for s in segments)]
    duration = max((s.end for s in segments), default=0.0)
    return segments, [], speakers, guess_language([s.text for s in segments]), duration


def load_transcript(path: Path | str) -> Loaded:
    """(segments, topics, speakers, detected language or None, duration in seconds)."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    if path.stat().st_size > MAX_BYTES:
        raise ValueError(f"{path}: larger than {MAX_BYTES // 2**20} MB; is it a transcript?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise _bad(path, "not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _bad(
            path, f"not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    if isinstance(data, dict) and "segments" in data:
        return _from_result(path, data)
    if isinstance(data, list):
        return _from_turns(path, data)
    raise _bad(path, f'a JSON {type(data).__name__} without "segments" is neither accepted shape')
