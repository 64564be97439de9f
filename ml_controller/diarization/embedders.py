"""What a window speaker-embedder gives, and which one the settings ask for.

An embedder turns each 10 s window's local speakers (the segmentation model's activity) into one
unit vector per local speaker. Every embedder names its vector `schema` ("campplus-192-v1"…):
voiceprints of different schemas live in different spaces and are never compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

import numpy as np

EmbedderName = Literal["campplus", "ge2e"]
DEFAULT_EMBEDDER: EmbedderName = "campplus"


@dataclass(frozen=True)
class WindowEmbeddings:
    """Per window and local speaker: an L2-normalised embedding (NaN when none) and how many
    seconds of speech the speaker has in that window (0 when silent)."""

    vectors: np.ndarray  # (windows, speakers, dim) float32
    seconds: np.ndarray  # (windows, speakers) float32


class WindowEmbedder(Protocol):
    dim: int
    schema: str

    def embed_windows(self, chunks: np.ndarray, activity: np.ndarray) -> WindowEmbeddings:
        """`chunks` (windows, samples) 16 kHz audio; `activity` (windows, frames, speakers) bool
        on the segmentation model's frame grid."""
        ...


def make_embedder(name: EmbedderName, cache_dir: Path, threads: int = 2) -> WindowEmbedder:
    """The embedder by name; each imports its libraries only when chosen."""
    if name == "ge2e":
        from ml_controller.diarization.embedding import SpeakerEmbedder

        return SpeakerEmbedder()
    from ml_controller.diarization.campplus import CamPlusEmbedder

    return CamPlusEmbedder.from_cache(cache_dir, threads=threads)
