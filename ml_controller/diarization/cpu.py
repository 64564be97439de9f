"""The embedded CPU diarizer: segmentation-3.0 windows → CAM++ embeddings → clustering → turns.

One pass over the recording reads the audio a batch of 10 s windows at a time, keeping only each
window's hard local activity and one embedding per local speaker (about 5 kB per window); the
audio itself is never copied whole, so a memory-mapped two-hour recording stays on disk. The
clustering and the frame-level reconstruction then work on those small per-window results.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from core.contracts import SpeakerHints
from ml_controller.audio.constants import SAMPLE_RATE
from ml_controller.diarization.clustering import (
    ClusteringParams,
    assign_speakers,
    find_centroids,
    speaker_embeddings,
)
from ml_controller.diarization.embedders import (
    DEFAULT_EMBEDDER,
    EmbedderName,
    WindowEmbedder,
    make_embedder,
)
from ml_controller.diarization.labels import to_diarization
from ml_controller.diarization.reconstruct import frame_runs
from ml_controller.diarization.segmentation import (
    FRAME_SPAN_SAMPLES,
    FRAME_STEP_SAMPLES,
    FRAMES_PER_WINDOW,
    LOCAL_SPEAKERS,
    WINDOW_SAMPLES,
    Segmenter,
)
from ml_controller.diarization.windows import plan_windows
from ml_controller.types import Diarization, SpeechRegion

if TYPE_CHECKING:
    from ml_controller.settings import MLSettings

T = TypeVar("T")


# Clustering defaults per embedder: their distances live on different scales.
TUNED_CLUSTERING: dict[str, ClusteringParams] = {
    "campplus": ClusteringParams(),
    # The former default, tuned on the same TRAIN split for GE2E.
    "ge2e": ClusteringParams(method="ahc", threshold=0.32),
}


@dataclass(frozen=True)
class CpuDiarizationParams:
    """Knobs of the CPU diarizer; defaults tuned on the pyannote_debug TRAIN split."""

    # Hop between 10 s segmentation windows: smaller votes more often per frame but costs
    # segmentation and embedding time in proportion.
    step_seconds: float = 2.5
    # Windows only where VAD found speech (faster on recordings with long silences), or
    # everywhere: segmentation-3.0 is a better detector of quiet far-field speech than the VAD.
    windows_on_speech_only: bool = False
    # With `windows_on_speech_only`, windows with less VAD speech than this are skipped.
    min_window_speech: float = 0.3
    # A frame holds n speakers when the windows' mean count reaches n - 1 + count_onset.
    count_onset: float = 0.4
    # Speaker count search range when no hint bounds it from above.
    default_max_speakers: int = 8
    # Same-speaker gaps shorter than this are bridged; shorter turns are then dropped.
    fill_gap_seconds: float = 0.0
    min_turn_seconds: float = 0.0
    batch_windows: int = 8
    # Which speaker embedder the windows go through (embedders.make_embedder).
    embedder: EmbedderName = DEFAULT_EMBEDDER
    clustering: ClusteringParams = field(default_factory=ClusteringParams)

    @classmethod
    def from_settings(cls, settings: MLSettings) -> CpuDiarizationParams:
        """Tuned defaults, overridden by whichever ``MINUTA_DIARIZATION_*`` settings are set."""
        tuned = cls(
            embedder=settings.diarization_embedder,
            clustering=TUNED_CLUSTERING[settings.diarization_embedder],
        )
        return replace(
            tuned,
            step_seconds=_given(settings.diarization_step_seconds, tuned.step_seconds),
            default_max_speakers=settings.diarization_max_speakers,
            clustering=replace(
                tuned.clustering,
                threshold=_given(settings.diarization_threshold, tuned.clustering.threshold),
                min_cluster_seconds=_given(
                    settings.diarization_min_speaker_seconds, tuned.clustering.min_cluster_seconds
                ),
            ),
        )


def _given(value: T | None, default: T) -> T:
    return default if value is None else value


@dataclass(frozen=True)
class WindowAnalysis:
    """What the models say about each speech window, before any decision on speakers."""

    duration: float
    window_frames: np.ndarray  # (windows,) first frame of each window on the global grid
    activity: np.ndarray  # (windows, frames, local speakers) bool
    vectors: np.ndarray  # (windows, local speakers, dim) unit embeddings, NaN when none
    seconds: np.ndarray  # (windows, local speakers) speech behind each embedding

    @classmethod
    def allocate(cls, duration: float, window_frames: np.ndarray, dim: int) -> WindowAnalysis:
        n = len(window_frames)
        return cls(
            duration,
            window_frames.astype(np.int64),
            np.zeros((n, FRAMES_PER_WINDOW, LOCAL_SPEAKERS), dtype=bool),
            np.full((n, LOCAL_SPEAKERS, dim), np.nan, dtype=np.float32),
            np.zeros((n, LOCAL_SPEAKERS), dtype=np.float32),
        )

    @classmethod
    def empty(cls, duration: float, dim: int) -> WindowAnalysis:
        return cls.allocate(duration, np.zeros(0, dtype=np.int64), dim)


class CpuDiarizer:
    def __init__(
        self,
        params: CpuDiarizationParams | None = None,
        threads: int = 2,
        segmenter: Segmenter | None = None,
        embedder: WindowEmbedder | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.params = params or CpuDiarizationParams()
        self.segmenter = segmenter or Segmenter(threads=threads)
        self.embedder = embedder or make_embedder(
            self.params.embedder, cache_dir or _default_cache(), threads=threads
        )

    @classmethod
    def from_settings(cls, settings: MLSettings) -> CpuDiarizer:
        return cls(
            CpuDiarizationParams.from_settings(settings),
            threads=settings.threads,
            cache_dir=settings.cache_dir,
        )

    @property
    def embedding_schema(self) -> str:
        """The vector space of this diarizer's voiceprints (see embedders.py)."""
        return self.embedder.schema

    def diarize(
        self, audio: np.ndarray, speech: list[SpeechRegion], hints: SpeakerHints
    ) -> Diarization:
        return self.decide(self.analyse(audio, speech), hints)

    def analyse(self, audio: np.ndarray, speech: list[SpeechRegion]) -> WindowAnalysis:
        """Segmentation and embeddings of every window (of those holding VAD speech, with
        `windows_on_speech_only`)."""
        p = self.params
        duration = len(audio) / SAMPLE_RATE
        if not p.windows_on_speech_only and duration > 0:
            speech = [SpeechRegion(start=0.0, end=duration)]
        starts = plan_windows(
            speech,
            len(audio),
            window=WINDOW_SAMPLES,
            step=int(p.step_seconds * SAMPLE_RATE),
            grid=FRAME_STEP_SAMPLES,
            sample_rate=SAMPLE_RATE,
            min_speech=p.min_window_speech,
        )
        if not starts:
            return WindowAnalysis.empty(duration, self.embedder.dim)
        # Filled in place: growing lists of small arrays between large temporaries fragments
        # the heap, which then grows with the length of the recording.
        result = WindowAnalysis.allocate(
            duration, np.asarray(starts) // FRAME_STEP_SAMPLES, self.embedder.dim
        )
        for i in range(0, len(starts), p.batch_windows):
            chunks = _read_windows(audio, starts[i : i + p.batch_windows])
            local = self.segmenter(chunks).activity
            embedded = self.embedder.embed_windows(chunks, local)
            rows = slice(i, i + len(chunks))
            result.activity[rows] = local
            result.vectors[rows] = embedded.vectors
            result.seconds[rows] = embedded.seconds
        return result

    def decide(self, analysis: WindowAnalysis, hints: SpeakerHints) -> Diarization:
        """Who speaks when, from the windows' analysis and the user's speaker-count hints."""
        p = self.params
        if len(analysis.window_frames) == 0:
            return Diarization(turns=[], speakers=[], embedding_schema=self.embedder.schema)
        vec, sec = analysis.vectors, analysis.seconds
        centroids = find_centroids(
            vec.reshape(-1, vec.shape[-1]),
            sec.reshape(-1),
            np.repeat(np.arange(len(vec)), vec.shape[1]),
            hints.bounds(default_max=p.default_max_speakers),
            p.clustering,
        )
        assignment = assign_speakers(vec, sec > 0, centroids)
        runs = frame_runs(
            analysis.window_frames, analysis.activity, assignment, len(centroids), p.count_onset
        )
        tracks = [
            (frame_time(a), min(analysis.duration, frame_time(b)), speaker)
            for a, b, speaker in runs
        ]
        voices = speaker_embeddings(
            vec, sec, assignment, len(centroids), p.clustering.min_embedding_seconds
        )
        result = to_diarization(
            tracks,
            fill_gap=p.fill_gap_seconds,
            min_duration=p.min_turn_seconds,
            embeddings=dict(enumerate(voices)),
        )
        result.embedding_schema = self.embedder.schema
        return result


def _default_cache() -> Path:
    from ml_controller.settings import MLSettings

    return MLSettings().cache_dir


def frame_time(frame: int) -> float:
    """Left edge of a global frame: each frame stands for the middle `step` of what it sees."""
    return (
        frame * FRAME_STEP_SAMPLES + (FRAME_SPAN_SAMPLES - FRAME_STEP_SAMPLES) / 2
    ) / SAMPLE_RATE


def _read_windows(audio: np.ndarray, starts: list[int]) -> np.ndarray:
    """Copies of just these windows, zero-padded past the end of the recording."""
    chunks = np.zeros((len(starts), WINDOW_SAMPLES), dtype=np.float32)
    for row, start in enumerate(starts):
        piece = audio[start : start + WINDOW_SAMPLES]
        chunks[row, : len(piece)] = piece
    return chunks
