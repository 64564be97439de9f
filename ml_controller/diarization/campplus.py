"""CAM++ embeddings of each window's local speakers, from their clean single-speaker frames.

For every 10 s window the 80-bin Kaldi fbank (kaldi-native-fbank: dither 0, snip_edges, as
3D-Speaker trained CAM++) is computed once. A local speaker's embedding is taken from the fbank
frames where the segmentation model hears that speaker ALONE (overlap left out; all their frames
only when the clean ones are too few), at most `max_seconds` of them spread evenly over the
window, minus their mean; onnxruntime runs the exported model (fp32) on them.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import kaldi_native_fbank as knf
import numpy as np

from ml_controller.audio.constants import SAMPLE_RATE
from ml_controller.diarization.embedders import WindowEmbeddings
from ml_controller.diarization.segmentation import FRAME_SPAN_SAMPLES, FRAME_STEP_SAMPLES
from ml_controller.models.campplus import EMBEDDING_DIM, FEATURE_DIM, campplus_onnx
from ml_controller.models.onnx_session import cpu_session

SCHEMA = f"campplus-{EMBEDDING_DIM}-v1"
FBANK_HOP = SAMPLE_RATE // 100  # 10 ms
FBANK_WINDOW = SAMPLE_RATE * 25 // 1000  # 25 ms


@dataclass(frozen=True)
class CamPlusParams:
    # Less clean (or, failing that, any) speech than this gives no embedding.
    min_seconds: float = 0.25
    # At most this much speech per local speaker and window goes through the model: the cost
    # grows with it, and 3 s already verifies far better than 1.5 s (MODELS.md).
    max_seconds: float = 4.0


class CamPlusEmbedder:
    dim = EMBEDDING_DIM
    schema = SCHEMA

    def __init__(self, onnx_path: Path, params: CamPlusParams | None = None, threads: int = 2):
        self.params = params or CamPlusParams()
        self.session = cpu_session(onnx_path, threads)
        self._fbank_options = _fbank_options()

    @classmethod
    def from_cache(
        cls, cache_dir: Path, params: CamPlusParams | None = None, threads: int = 2
    ) -> CamPlusEmbedder:
        return cls(campplus_onnx(cache_dir).path, params, threads)

    def fbank(self, wav: np.ndarray) -> np.ndarray:
        """(frames, 80) log mel filterbank of 16 kHz float audio in [-1, 1]."""
        extractor = knf.OnlineFbank(self._fbank_options)
        # Kaldi's convention is 16-bit sample values; the per-utterance mean removes the
        # scale anyway, except near the energy floor.
        extractor.accept_waveform(SAMPLE_RATE, np.asarray(wav, dtype=np.float32) * 32768.0)
        extractor.input_finished()
        n = extractor.num_frames_ready
        out = np.empty((n, FEATURE_DIM), dtype=np.float32)
        for i in range(n):
            out[i] = extractor.get_frame(i)
        return out

    def embed_features(self, features: np.ndarray) -> np.ndarray:
        """Unit embedding of one utterance's (frames, 80) fbank, mean-normalised here."""
        x = features - features.mean(axis=0, keepdims=True)
        out = self.session.run(None, {"features": x[None].astype(np.float32)})[0][0]
        return np.asarray(out / max(float(np.linalg.norm(out)), 1e-12), dtype=np.float32)

    def embed_windows(self, chunks: np.ndarray, activity: np.ndarray) -> WindowEmbeddings:
        n_windows, n_seg, n_speakers = activity.shape
        vectors = np.full((n_windows, n_speakers, EMBEDDING_DIM), np.nan, dtype=np.float32)
        seconds = np.zeros((n_windows, n_speakers), dtype=np.float32)
        min_frames = max(1, int(self.params.min_seconds * 100))
        max_frames = max(min_frames, int(self.params.max_seconds * 100))
        for w in range(n_windows):
            if not activity[w].any():
                continue
            feats = self.fbank(chunks[w])
            to_seg = _fbank_to_segmentation_frames(len(feats), n_seg)
            act = activity[w][to_seg]  # (fbank frames, speakers)
            alone = act & (act.sum(axis=1, keepdims=True) == 1)
            for k in range(n_speakers):
                seconds[w, k] = act[:, k].sum() / 100.0
                frames = np.flatnonzero(alone[:, k])
                if len(frames) < min_frames:
                    frames = np.flatnonzero(act[:, k])
                if len(frames) < min_frames:
                    continue
                vectors[w, k] = self.embed_features(feats[_spread(frames, max_frames)])
        return WindowEmbeddings(vectors, seconds)


def _fbank_options() -> knf.FbankOptions:
    options = knf.FbankOptions()
    options.frame_opts.samp_freq = SAMPLE_RATE
    options.frame_opts.dither = 0.0
    options.frame_opts.snip_edges = True
    options.mel_opts.num_bins = FEATURE_DIM
    return options


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
