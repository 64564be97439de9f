"""The interface every diarization backend implements."""

from __future__ import annotations

from typing import Protocol

import numpy as np

from core.contracts import SpeakerHints
from ml_controller.types import Diarization, SpeechRegion


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
