"""The interface every diarization backend implements."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ml_controller.types import Diarization, SpeechRegion


@dataclass(frozen=True)
class SpeakerHints:
    """Optional user hints; `num_speakers` wins over the min/max bounds."""

    num_speakers: int | None = None
    min_speakers: int | None = None
    max_speakers: int | None = None

    def bounds(self, default_max: int = 8) -> tuple[int, int]:
        if self.num_speakers is not None:
            return self.num_speakers, self.num_speakers
        low = self.min_speakers or 1
        high = self.max_speakers or max(default_max, low)
        return low, high


class Diarizer(Protocol):
    def diarize(
        self,
        audio: np.ndarray,
        speech: list[SpeechRegion],
        hints: SpeakerHints,
    ) -> Diarization:
        """Speaker turns for 16 kHz mono float32 audio; turns of different speakers may overlap.

        `speech` are the voice-activity regions already found; backends may use or ignore them.
        Speaker labels are "S1", "S2", ... numbered in order of first appearance.
        """
        ...
