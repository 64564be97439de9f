"""GE2E (resemblyzer) embeddings of each window's local speakers: the former default, kept as
`MINUTA_DIARIZATION_EMBEDDER=ge2e` for comparison; it needs `pip install resemblyzer==0.1.4`.

resemblyzer's own helper re-runs webrtcvad and re-splits every utterance; here the segmentation
model already says which frames belong to whom, so the mel frames of one local speaker are
gathered straight from the window's spectrogram and cut into the encoder's 1.6 s partials.

Torch runs single-threaded here: the LSTM's small per-step matrix products gain little from a
second thread, and on a machine whose cores are busy (another worker, another stage) two
threads made it four times slower. The spectrogram is computed with torch, not librosa/numpy,
for the same reason (numpy's BLAS spins threads on a 1001×201 by 201×40 product).
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import librosa
import numpy as np
import torch

from ml_controller.audio.constants import SAMPLE_RATE
from ml_controller.diarization.embedders import WindowEmbeddings
from ml_controller.diarization.segmentation import FRAME_SPAN_SAMPLES, FRAME_STEP_SAMPLES

with warnings.catch_warnings():
    # resemblyzer imports webrtcvad, which imports the deprecated pkg_resources; resemblyzer's
    # audio module uses a deprecated scipy path. Neither is ours to fix, nor worth a warning.
    warnings.simplefilter("ignore", UserWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    from resemblyzer import VoiceEncoder
    from resemblyzer.hparams import (
        audio_norm_target_dBFS,
        mel_n_channels,
        mel_window_length,
        mel_window_step,
        partials_n_frames,
    )

EMBEDDING_DIM = 256
SCHEMA = f"ge2e-{EMBEDDING_DIM}-v1"
MEL_HOP = SAMPLE_RATE * mel_window_step // 1000
MEL_WINDOW = SAMPLE_RATE * mel_window_length // 1000
_BATCH = 128


@dataclass(frozen=True)
class EmbeddingParams:
    # Less speech than this gives no embedding; such speakers are matched to centroids later.
    min_seconds: float = 0.1
    # Partials per local speaker: more is steadier but costs LSTM time linearly.
    max_partials: int = 3
    # Match the encoder's training loudness over the frames actually used.
    normalize_volume: bool = True


class SpeakerEmbedder:
    dim = EMBEDDING_DIM
    schema = SCHEMA

    def __init__(self, params: EmbeddingParams | None = None) -> None:
        self.params = params or EmbeddingParams()
        self.encoder = VoiceEncoder("cpu", verbose=False)
        self.encoder.eval()
        # The filterbank resemblyzer's training used (librosa's Slaney mel, power spectrum).
        self._mel_basis = torch.from_numpy(
            librosa.filters.mel(sr=SAMPLE_RATE, n_fft=MEL_WINDOW, n_mels=mel_n_channels)
        ).float()
        self._window = torch.hann_window(MEL_WINDOW, periodic=True)

    def embed_windows(self, chunks: np.ndarray, activity: np.ndarray) -> WindowEmbeddings:
        """`chunks` (windows, samples) audio and `activity` (windows, frames, speakers) bool."""
        n_windows, _, n_speakers = activity.shape
        partials: list[np.ndarray] = []
        owner: list[int] = []
        seconds = np.zeros((n_windows, n_speakers), dtype=np.float32)
        min_frames = int(self.params.min_seconds * SAMPLE_RATE / MEL_HOP)
        with _single_thread():
            mels = self._mel(chunks)
        for w in range(n_windows):
            mel = mels[w]
            hop_energy = _hop_energy(chunks[w], len(mel))
            to_seg = _mel_to_segmentation_frames(len(mel), activity.shape[1])
            act = activity[w][to_seg]  # (mel frames, speakers)
            alone = act & (act.sum(axis=1, keepdims=True) == 1)
            for k in range(n_speakers):
                seconds[w, k] = act[:, k].sum() * MEL_HOP / SAMPLE_RATE
                # Overlapped frames carry two voices; use them only if that is all there is.
                frames = np.flatnonzero(alone[:, k])
                if len(frames) < min_frames:
                    frames = np.flatnonzero(act[:, k])
                if len(frames) < min_frames:
                    continue
                selected = mel[frames]
                if self.params.normalize_volume:
                    selected = selected * _gain(hop_energy[frames])
                for part in _partials(selected, self.params.max_partials):
                    partials.append(part)
                    owner.append(w * n_speakers + k)

        vectors = np.full((n_windows * n_speakers, EMBEDDING_DIM), np.nan, dtype=np.float32)
        if partials:
            with _single_thread():
                embedded = self._encode(np.stack(partials))
            index = np.asarray(owner)
            sums = np.zeros((n_windows * n_speakers, EMBEDDING_DIM), dtype=np.float32)
            np.add.at(sums, index, embedded)
            used = np.unique(index)
            vectors[used] = sums[used] / np.linalg.norm(sums[used], axis=1, keepdims=True)
        return WindowEmbeddings(vectors.reshape(n_windows, n_speakers, -1), seconds)

    def _mel(self, chunks: np.ndarray) -> np.ndarray:
        """(windows, frames, mels) power mel spectrogram, as resemblyzer's librosa call makes it."""
        with torch.inference_mode():
            spec = torch.stft(
                torch.from_numpy(np.ascontiguousarray(chunks, dtype=np.float32)),
                MEL_WINDOW,
                MEL_HOP,
                window=self._window,
                center=True,
                pad_mode="constant",
                return_complex=True,
            )
            power = spec.real.square() + spec.imag.square()
            return (self._mel_basis @ power).transpose(1, 2).contiguous().numpy()

    def _encode(self, mels: np.ndarray) -> np.ndarray:
        out = []
        with torch.inference_mode():
            for i in range(0, len(mels), _BATCH):
                out.append(self.encoder(torch.from_numpy(mels[i : i + _BATCH])).numpy())
        return np.concatenate(out)


@contextmanager
def _single_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def _mel_to_segmentation_frames(n_mel: int, n_seg: int) -> np.ndarray:
    """The segmentation frame whose centre is nearest each (centred) mel frame."""
    centres = np.arange(n_mel) * MEL_HOP
    seg = np.rint((centres - FRAME_SPAN_SAMPLES / 2) / FRAME_STEP_SAMPLES).astype(int)
    return np.clip(seg, 0, n_seg - 1)


def _hop_energy(wav: np.ndarray, n_mel: int) -> np.ndarray:
    """Mean squared sample around each mel frame centre."""
    n_hops = len(wav) // MEL_HOP
    energy = np.square(wav[: n_hops * MEL_HOP].astype(np.float64)).reshape(n_hops, MEL_HOP)
    energy = energy.mean(axis=1)
    return energy[np.minimum(np.arange(n_mel), n_hops - 1)]


def _gain(energy: np.ndarray) -> float:
    """Power gain that brings the selected frames to the encoder's training loudness."""
    mean = float(energy.mean())
    if mean <= 1e-10:
        return 1.0
    change_db = audio_norm_target_dBFS - 10.0 * np.log10(mean)
    return float(10.0 ** (change_db / 10.0))


def _partials(frames: np.ndarray, max_partials: int) -> list[np.ndarray]:
    """Up to `max_partials` evenly spread 160-frame slices; short selections are tiled."""
    n = len(frames)
    if n < partials_n_frames:
        reps = -(-partials_n_frames // n)
        return [np.tile(frames, (reps, 1))[:partials_n_frames]]
    count = min(max_partials, -(-n // partials_n_frames))
    starts = np.linspace(0, n - partials_n_frames, count).round().astype(int)
    return [frames[s : s + partials_n_frames] for s in starts]
