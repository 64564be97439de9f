"""SRT and WebVTT with the speaker's name (or label) in front of each line."""

from __future__ import annotations

from core.export.timefmt import subtitle
from core.results import MeetingResult


def speaker_names(result: MeetingResult) -> dict[str, str]:
    return {s.id: s.name or s.id for s in result.speakers}


def to_srt(result: MeetingResult) -> str:
    names = speaker_names(result)
    cues = []
    for index, line in enumerate(result.segments, start=1):
        cues.append(
            f"{index}\n{subtitle(line.start, ',')} --> {subtitle(line.end, ',')}\n"
            f"{names.get(line.speaker, line.speaker)}: {line.text}\n"
        )
    return "\n".join(cues)


def _vtt_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(result: MeetingResult) -> str:
    names = speaker_names(result)
    cues = ["WEBVTT\n"]
    for line in result.segments:
        cues.append(
            f"{subtitle(line.start, '.')} --> {subtitle(line.end, '.')}\n"
            f"<v {_vtt_text(names.get(line.speaker, line.speaker))}>{_vtt_text(line.text)}\n"
        )
    return "\n".join(cues)
