"""Writers for the formats `minuta process --format` offers."""

from __future__ import annotations

from collections.abc import Callable

from core.export.markdown import to_markdown
from core.export.subtitles import to_srt, to_vtt
from core.results import MeetingResult


def to_json(result: MeetingResult) -> str:
    return result.model_dump_json(indent=2) + "\n"


FORMATS: dict[str, Callable[[MeetingResult], str]] = {
    "json": to_json,
    "md": to_markdown,
    "srt": to_srt,
    "vtt": to_vtt,
}


def render(result: MeetingResult, fmt: str) -> str:
    return FORMATS[fmt](result)
