"""CAM++ embeddings of each window's local speakers, from their clean single-speaker frames.

A local speaker's embedding is taken from the 80-bin Kaldi fbank frames (fbank.py: dither 0,
snip_edges, as 3D-Speaker trained CAM++) where the segmentation model hears that speaker ALONE
(overlap left out; all their frames only when the clean ones are too few), at most
`max_seconds` of them spread evenly over the window, minus their mean. Only those frames' fbank
is computed. onnxruntime runs the exported model (fp32) on them, crop by crop."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ml_controller.diarization.embedders import WindowEmbeddings
from ml_controller.diarization.fbank import FRAME_LENGTH, FRAME_SHIFT, fbank, frame_count
from ml_controller.diarization.segmentation import FRAME_SPAN_SAMPLES, FRAME_STEP_SAMPLES
from ml_controller.models.campplus import EMBEDDING_DIM, campplus_onnx
from ml_controller.models.onnx_session import cpu_session

SCHEMA = f"campplus-{EMBEDDING_DIM}-v1"
FBANK_HOP = FRAME_SHIFT  # 10 ms
FBANK_WINDOW = FRAME_LENGTH  # 25 ms


@dataclass(frozen=True)
class CamPlusParams:
    # Less clean (or, failing that, any) speech than this gives no embedding.
    min_seconds: float = 0.25
    # At most this much speech per local speaker and window goes through the model: the cost
    # grows with it, and 3 s already verifies far better than 1.5 s (MODELS.md).
    max_seconds: float = 4.0
    # Equal-length crops per onnxruntime call. Batching them measured no gain on 2 shared
    # cores (8 per call: 5 % more CPU time than 1), so each crop runs alone by default.
    batch_crops: int = 1


class CamPlusEmbedder:
    dim = EMBEDDING_DIM
    schema = SCHEMA

    def __init__(self, onnx_path: Path, params: CamPlusParams | None = None, threads: int = 2):
        self.params = params or CamPlusParams()
        self.session = cpu_session(onnx_path, threads)

    @classmethod
    def from_cache(
        cls, cache_dir: Path, params: CamPlusParams | None = None, threads: int = 2
    ) -> CamPlusEmbedder:
        return cls(campplus_onnx(cache_dir).path, params, threads)

    def fbank(self, wav: np.ndarray) -> np.ndarray:
        """(frames, 80) log mel filterbank of 16 kHz float audio in [-1, 1]."""
        return fbank(wav)

    def embed_features(self, features: np.ndarray) -> np.ndarray:
        """Unit embedding of one utterance's (frames, 80) fbank, mean-normalised here."""
        return self.embed_batch([features])[0]

    def embed_batch(self, crops: list[np.ndarray]) -> np.ndarray:
        """(len(crops), dim) unit embeddings, each crop mean-normalised on its own.

        With `batch_crops` > 1, crops of equal length share one onnxruntime call (the model
        pools over time, so padding would change the result).
        """
        out = np.empty((len(crops), EMBEDDING_DIM), dtype=np.float32)
        by_length: dict[int, list[int]] = {}
        for i, crop in enumerate(crops):
            by_length.setdefault(len(crop), []).append(i)
        size = max(1, self.params.batch_crops)
        for members in by_length.values():
            for first in range(0, len(members), size):
                rows = members[first : first + size]
                x = np.stack([crops[i] for i in rows]).astype(np.float32, copy=False)
                x = x - x.mean(axis=1, keepdims=True)
                y = self.session.run(None, {"features": x})[0]
                norm = np.maximum(np.linalg.norm(y, axis=1, keepdims=True), 1e-12)
                out[rows] = y / norm
        return out

    def embed_windows(self, chunks: np.ndarray, activity: np.ndarray) -> WindowEmbeddings:
        n_windows, n_seg, n_speakers = activity.shape
        vectors = np.full((n_windows, n_speakers, EMBEDDING_DIM), np.nan, dtype=np.float32)
        seconds = np.zeros((n_windows, n_speakers), dtype=np.float32)
        min_frames = max(1, int(self.params.min_seconds * 100))
        max_frames = max(min_frames, int(self.params.max_seconds * 100))
        crops: list[np.ndarray] = []
        owners: list[tuple[int, int]] = []
        to_seg = _fbank_to_segmentation_frames(frame_count(chunks.shape[1]), n_seg)
        for w in range(n_windows):
            if not activity[w].any():
                continue
            act = activity[w][to_seg]  # (fbank frames, speakers)
            seconds[w] = act.sum(axis=0) / 100.0
            alone = act & (act.sum(axis=1, keepdims=True) == 1)
            for k in range(n_speakers):
                frames = np.flatnonzero(alone[:, k])
                if len(frames) < min_frames:
                    frames = np.flatnonzero(act[:, k])
                if len(frames) < min_frames:
                    continue
                # Only the frames the crop uses are computed (clean frames: one speaker each).
                crops.append(fbank(chunks[w], _spread(frames, max_frames)))
                owners.append((w, k))
        if crops:
            rows, speakers = zip(*owners, strict=True)
            vectors[list(rows), list(speakers)] = self.embed_batch(crops)
        return WindowEmbeddings(vectors, seconds)


def _fbank_to_segmentation_frames(n_fbank: int, n_seg: int) -> np.ndarray:
    """The segmentation frame whose centre is nearest each fbank frame's centre."""
    centres = np.arange(n_fbank) * FBANK_HOP + FBANK_WINDOW / 2
    seg = np.rint((centres - FRAME_SPAN_SAMPLES / 2) / FRAME_STEP_SAMPLES).astype(int)
    return np.clip(seg, 0, n_seg - 1)


def _spread(frames: np.ndarray, limit: int) -> np.ndarray:
    """At most `limit` of the frames: whole contiguous blocks spread evenly over the selection."""
    if len(frames) <= limit:
        return frames
    blocks = 4
    size = limit // blocks
    starts = np.linspace(0, len(frames) - size, blocks).round().astype(int)
    return np.concatenate([frames[s : s + size] for s in starts])
