"""Meetings built from real QMSum transcripts, the packaged e5 model, and stores on each backend."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from core.results import AudioInfo, MeetingResult, Minutes, Segment, Speaker
from ml_controller.settings import MLSettings
from ml_controller.text_embedding import TextEmbedder
from ml_controller.vectors.settings import VectorSettings
from ml_controller.vectors.store import VectorStore

# Seconds per transcript turn when QMSum turns (which have no times) become segments.
TURN_SECONDS = 4.0


def qmsum_meeting(data_dir: Path, meeting: str, turns: int) -> list[dict[str, str]]:
    with (data_dir / "summarization" / "qmsum_val.jsonl").open() as f:
        for line in f:
            record = json.loads(line)
            if record["id"] == meeting:
                return list(record["meeting_transcripts"][:turns])
    raise LookupError(meeting)


def meeting_result(
    turns: list[dict[str, str]],
    *,
    language: str = "en",
    names: dict[str, str] | None = None,
    minutes: Minutes | None = None,
) -> MeetingResult:
    segments = [
        Segment(
            start=i * TURN_SECONDS,
            end=i * TURN_SECONDS + TURN_SECONDS - 0.5,
            speaker=t["speaker"],
            text=t["content"],
        )
        for i, t in enumerate(turns)
        if t["content"].strip()
    ]
    labels = list(dict.fromkeys(s.speaker for s in segments))
    names = names or {}
    return MeetingResult(
        audio=AudioInfo(duration=len(turns) * TURN_SECONDS, language=language),
        speakers=[Speaker(id=label, name=names.get(label)) for label in labels],
        segments=segments,
        topics=[],
        minutes=minutes or Minutes.empty(language),
    )


@pytest.fixture(scope="session")
def embedder(settings: MLSettings) -> TextEmbedder:
    return TextEmbedder.from_settings(settings)


@pytest.fixture(params=["memory", "edge"])
def store(
    request: pytest.FixtureRequest, tmp_path: Path, embedder: TextEmbedder
) -> Iterator[VectorStore]:
    """A fresh store per test, on qdrant-client's in-memory mode and on qdrant-edge."""
    settings = VectorSettings(
        qdrant_path=tmp_path / "qdrant",
        qdrant_in_memory=request.param == "memory",
        qdrant_embedded_engine="edge",
    )
    vector_store = VectorStore.from_settings(settings, embedder=embedder)
    vector_store.ensure_schema()
    yield vector_store
    vector_store.close()
