from __future__ import annotations

import json
import re

from core.export import render
from core.results import (
    ActionItem,
    AudioInfo,
    Evidence,
    MeetingResult,
    Minutes,
    Segment,
    Speaker,
    Topic,
)


def _result() -> MeetingResult:
    return MeetingResult(
        audio=AudioInfo(duration=3725.5, language="ru", source="call.m4a"),
        speakers=[Speaker(id="S1", name="Анна"), Speaker(id="S2")],
        segments=[
            Segment(start=0.0, end=2.5, speaker="S1", text="Начнём <планёрку> & обсудим."),
            Segment(start=3661.25, end=3663.0, speaker="S2", text="Согласен."),
        ],
        topics=[Topic(start=0, end=3725.5, title="Планёрка")],
        minutes=Minutes(
            language="ru",
            title="Планёрка",
            summary="Обсудили релиз.",
            decisions=["Релиз в понедельник"],
            action_items=[
                ActionItem(
                    owner="S2", task="Написать гайд", evidence=Evidence(start=3661, end=3663)
                )
            ],
        ),
    )


def test_json_round_trips_the_result() -> None:
    text = render(_result(), "json")
    assert MeetingResult.model_validate(json.loads(text)) == _result()


def test_srt_and_vtt_carry_speaker_names_and_times() -> None:
    srt = render(_result(), "srt")
    assert "01:01:01,250 --> 01:01:03,000\nS2: Согласен." in srt
    assert srt.startswith("1\n00:00:00,000 --> 00:00:02,500\nАнна: Начнём")
    vtt = render(_result(), "vtt")
    assert vtt.startswith("WEBVTT\n")
    assert "<v Анна>Начнём &lt;планёрку&gt; &amp; обсудим." in vtt
    assert re.search(r"01:01:01\.250 --> 01:01:03\.000", vtt)


def test_markdown_is_in_the_minutes_language_with_names() -> None:
    md = render(_result(), "md")
    assert md.startswith("# Планёрка\n")
    assert "## Решения" in md and "- Релиз в понедельник" in md
    assert "**S2**: Написать гайд [1:01:01]" in md
    assert "**[00:00] Анна:**" in md


def test_no_export_prints_the_voiceprints() -> None:
    # A result stored before voiceprints left the model may still hold them: they are dropped
    # on reading, so no format can print them.
    stored = {
        **_result().model_dump(mode="json"),
        "voiceprints": {"S1": [0.123456789, -0.987654321], "S2": [0.5, 0.5]},
        "voiceprint_schema": "campplus-192-v1",
    }
    read = MeetingResult.model_validate(stored)
    assert read == _result()
    for fmt in ("json", "md", "srt", "vtt"):
        text = render(read, fmt)
        assert "0.123456789" not in text and "voiceprint" not in text, fmt
