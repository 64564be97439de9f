"""Real meeting transcripts from ../shared/data, read in place, as the writer's inputs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from core.results import Segment, Speaker, Topic

_QMSUM_MARKUP = re.compile(r"\{[a-z]+\}")
# QMSum has no times: give each utterance a length from its words, as a speaker would need.
_SECONDS_PER_WORD = 0.4
_PAUSE = 0.3


@dataclass(frozen=True)
class Meeting:
    segments: list[Segment]
    topics: list[Topic]
    speakers: list[Speaker]
    language: str
    duration: float


def synthetic(data_dir: Path, name: str) -> Meeting:
    """A synthetic meeting's reference turns and topic boundaries (synth_en_meeting, ...)."""
    ref = json.loads((data_dir / "synthetic_meetings" / name / f"{name}.ref.json").read_text())
    segments = [
        Segment(start=t["start"], end=t["end"], speaker=t["speaker"], text=t["text"])
        for t in ref["turns"]
    ]
    topics = [Topic(start=t["start"], end=t["end"]) for t in ref["topics"]]
    speakers = [Speaker(id=label) for label in ref["speakers"]]
    return Meeting(segments, topics, speakers, ref["language"], float(ref["duration_s"]))


def qmsum(data_dir: Path, meeting_id: str, split: str = "val") -> Meeting:
    """A QMSum meeting with its annotated topic spans; times are estimated from word counts."""
    path = data_dir / "summarization" / f"qmsum_{split}.jsonl"
    row = next(r for r in map(json.loads, path.read_text().splitlines()) if r["id"] == meeting_id)
    segments: list[Segment] = []
    by_index: dict[int, Segment] = {}
    clock = 0.0
    for index, utterance in enumerate(row["meeting_transcripts"]):
        text = " ".join(_QMSUM_MARKUP.sub(" ", utterance["content"]).split())
        if not text:
            continue
        end = clock + max(0.6, len(text.split()) * _SECONDS_PER_WORD)
        segment = Segment(
            start=round(clock, 2), end=round(end, 2), speaker=utterance["speaker"], text=text
        )
        segments.append(segment)
        by_index[index] = segment
        clock = end + _PAUSE
    topics = []
    for topic in row["topic_list"]:
        first = int(topic["relevant_text_span"][0][0])
        last = int(topic["relevant_text_span"][-1][1])
        inside = [s for i, s in by_index.items() if first <= i <= last]
        if inside:
            topics.append(Topic(start=inside[0].start, end=inside[-1].end))
    speakers = [Speaker(id=label) for label in dict.fromkeys(s.speaker for s in segments)]
    return Meeting(segments, sorted(topics, key=lambda t: t.start), speakers, "en", clock)
