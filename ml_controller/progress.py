"""How the pipeline reports progress: the CLI draws bars, a worker sends events."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

STAGES: tuple[str, ...] = (
    "decode",
    "speech detection",
    "transcription",
    "speakers",
    "topics",
    "minutes",
)


class ProgressSink(Protocol):
    def begin(self, stage: str, total: float | None) -> None:
        """A stage starts; `total` is in the stage's own unit (seconds of audio) or unknown."""

    def advance(self, stage: str, done: float) -> None:
        """The stage has done `done` of its total."""

    def end(self, stage: str, seconds: float) -> None:
        """The stage finished after `seconds` of wall time."""


class NullProgress:
    def begin(self, stage: str, total: float | None) -> None:
        return None

    def advance(self, stage: str, done: float) -> None:
        return None

    def end(self, stage: str, seconds: float) -> None:
        return None


def reporter(sink: ProgressSink, stage: str) -> Callable[[float], None]:
    return lambda done: sink.advance(stage, done)
