"""Kaldi's 80-bin log mel filterbank (as kaldi-native-fbank computes it for CAM++), in numpy.

kaldi-native-fbank works frame by frame and took about a fifth of CAM++'s diarization time;
the same arithmetic on all frames of a window at once is several times faster. Settings are
CAM++'s: 25 ms frames every 10 ms, snip_edges, no dither, DC removed, pre-emphasis 0.97,
Povey window, 512-point FFT, power spectrum, 80 triangular mel bins from 20 Hz to Nyquist.
"""

from __future__ import annotations

from functools import cache

import numpy as np

from ml_controller.audio.constants import SAMPLE_RATE

FRAME_LENGTH = SAMPLE_RATE * 25 // 1000
FRAME_SHIFT = SAMPLE_RATE // 100
FFT_SIZE = 512
MEL_BINS = 80
LOW_HZ = 20.0
PREEMPHASIS = 0.97
_FLOOR = float(np.finfo(np.float32).eps)


def frame_count(samples: int) -> int:
    """Frames of a snip-edges fbank over `samples` samples."""
    return 0 if samples < FRAME_LENGTH else 1 + (samples - FRAME_LENGTH) // FRAME_SHIFT


def fbank(wav: np.ndarray, frames: np.ndarray | None = None) -> np.ndarray:
    """(frames, 80) float32 log mel energies of 16 kHz float audio in [-1, 1]; only the frames
    numbered in `frames` when given (the diarizer needs at most 4 s of every 10)."""
    n = frame_count(len(wav))
    index = np.arange(n) if frames is None else np.asarray(frames, dtype=np.int64)
    if len(index) == 0:
        return np.zeros((0, MEL_BINS), dtype=np.float32)
    if index.min() < 0 or index.max() >= n:
        raise IndexError(f"fbank frames outside 0…{n - 1}")
    starts = index * FRAME_SHIFT
    # Kaldi's convention is 16-bit sample values; the per-utterance mean removes the scale
    # anyway, except near the energy floor.
    x = np.asarray(wav)[starts[:, None] + np.arange(FRAME_LENGTH)].astype(np.float64) * 32768.0
    x -= x.mean(axis=1, keepdims=True)
    # Kaldi's pre-emphasis treats the sample before the first as the first itself.
    emphasised = np.empty_like(x)
    emphasised[:, 1:] = x[:, 1:] - PREEMPHASIS * x[:, :-1]
    emphasised[:, 0] = x[:, 0] * (1.0 - PREEMPHASIS)
    spectrum = np.fft.rfft(emphasised * _povey_window(), n=FFT_SIZE)
    half = spectrum[:, : FFT_SIZE // 2]
    power = (half.real**2 + half.imag**2).astype(np.float32)
    # Each filter spans a few bins: summing those directly is ~20× cheaper than a BLAS product,
    # whose threads wait on each other when the cores are busy (measured 0.4 vs 8 ms CPU).
    energies = np.empty((len(power), MEL_BINS), dtype=np.float32)
    for m, (first, weights) in enumerate(_mel_bands()):
        energies[:, m] = (power[:, first : first + len(weights)] * weights).sum(axis=1)
    return np.log(np.maximum(energies, _FLOOR))


@cache
def _povey_window() -> np.ndarray:
    i = np.arange(FRAME_LENGTH)
    return np.asarray((0.5 - 0.5 * np.cos(2 * np.pi * i / (FRAME_LENGTH - 1))) ** 0.85)


@cache
def _mel_banks() -> np.ndarray:
    """(FFT_SIZE / 2, 80) triangular weights on the mel scale (Nyquist bin left out, as Kaldi)."""
    mel_low, mel_high = _mel(LOW_HZ), _mel(SAMPLE_RATE / 2)
    delta = (mel_high - mel_low) / (MEL_BINS + 1)
    left = mel_low + delta * np.arange(MEL_BINS)
    centre, right = left + delta, left + 2 * delta
    mel = _mel(np.arange(FFT_SIZE // 2) * SAMPLE_RATE / FFT_SIZE)[:, None]
    rising = (mel - left) / (centre - left)
    falling = (right - mel) / (right - centre)
    weights = np.where(mel <= centre, rising, falling)
    return np.where((mel > left) & (mel < right), weights, 0.0).astype(np.float32)


@cache
def _mel_bands() -> tuple[tuple[int, np.ndarray], ...]:
    """Each mel filter as its first FFT bin and the weights of its nonzero bins."""
    bands = []
    for column in _mel_banks().T:
        nonzero = np.flatnonzero(column)
        first, last = int(nonzero[0]), int(nonzero[-1])
        bands.append((first, column[first : last + 1].copy()))
    return tuple(bands)


def _mel(hz: float | np.ndarray) -> np.ndarray:
    return np.asarray(1127.0 * np.log(1.0 + np.asarray(hz) / 700.0))
