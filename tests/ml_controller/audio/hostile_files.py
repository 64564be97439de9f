"""Hostile and broken recordings, made with PyAV, numpy and raw bytes (no ffmpeg binary needed).

Every builder writes one file into `folder` and returns its path. Speech comes from a real
recording (jfk.flac) so that the odd formats still carry something to transcribe.
"""

from __future__ import annotations

import os
import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

MINUTE = 60


def speech(recording: Path, rate: int = 16_000) -> np.ndarray:
    """The recording as float32 mono at `rate`."""
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    pieces = []
    with av.open(str(recording)) as container:
        for frame in container.decode(audio=0):
            pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    pieces += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(pieces).astype(np.float32)


def wav_header(data_bytes: int, rate: int, channels: int, bits: int = 16) -> bytes:
    """A plain PCM WAV header; `data_bytes` is what it declares (0xFFFFFFFF: unknown size)."""
    block = channels * bits // 8
    return (
        b"RIFF"
        + struct.pack("<I", min(0xFFFFFFFF, 36 + data_bytes))
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, channels, rate, rate * block, block, bits)
        + b"data"
        + struct.pack("<I", data_bytes)
    )


def pcm16(samples: np.ndarray) -> bytes:
    """float samples (n,) or (n, channels) in [-1, 1] as interleaved little-endian int16."""
    return (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2").tobytes()


def write_wav(path: Path, samples: np.ndarray, rate: int, declared: int | None = None) -> Path:
    channels = 1 if samples.ndim == 1 else samples.shape[1]
    data = pcm16(samples)
    path.write_bytes(wav_header(len(data) if declared is None else declared, rate, channels) + data)
    return path


def encode(
    path: Path,
    samples: np.ndarray,
    rate: int,
    codec: str,
    *,
    container_format: str | None = None,
    options: dict[str, str] | None = None,
    chunk: int = 1 << 16,
) -> Path:
    """Mono float samples encoded with `codec` (PyAV resamples to the codec's sample format)."""
    with av.open(str(path), "w", format=container_format, options=options or {}) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        assert isinstance(stream, av.AudioStream)
        for start in range(0, len(samples), chunk):
            piece = np.ascontiguousarray(samples[start : start + chunk].reshape(1, -1))
            frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def silent_flac(path: Path, seconds: float, rate: int) -> Path:
    """`seconds` of digital silence as FLAC: a few MB for many hours (a decompression bomb
    shape). One frame object is encoded again and again, so making it costs no RAM."""
    step = rate * MINUTE
    zeros = np.zeros((1, step), dtype=np.int16)
    total = int(seconds * rate)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=rate, layout="mono")
        for start in range(0, total, step):
            n = min(step, total - start)
            frame = av.AudioFrame.from_ndarray(zeros[:, :n], format="s16", layout="mono")
            frame.sample_rate = rate
            frame.pts = start
            frame.time_base = Fraction(1, rate)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def without_flac_length(path: Path) -> Path:
    """Zero the total-samples field of the FLAC STREAMINFO ("unknown", as a live stream has):
    the file can no longer tell how long it is before it is decoded."""
    data = bytearray(path.read_bytes())
    assert data[:4] == b"fLaC" and data[4] & 0x7F == 0, "STREAMINFO must come first"
    # STREAMINFO starts at byte 8; its 64-bit field at +10 ends with the 36-bit sample count.
    (packed,) = struct.unpack(">Q", data[18:26])
    data[18:26] = struct.pack(">Q", packed & ~((1 << 36) - 1))
    path.write_bytes(bytes(data))
    return path


def truncated(source: Path, path: Path, keep: float = 0.5) -> Path:
    """The first `keep` of `source`'s bytes: a transfer cut mid-stream."""
    data = source.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    return path


def noise_wav(path: Path, size: int, rate: int = 48_000, channels: int = 2) -> Path:
    """A valid WAV of `size` bytes of random samples (full-scale noise), written in pieces."""
    data_bytes = size - 44
    data_bytes -= data_bytes % (2 * channels)
    with path.open("wb") as out:
        out.write(wav_header(data_bytes, rate, channels))
        left = data_bytes
        while left:
            piece = min(left, 1 << 22)
            out.write(os.urandom(piece))
            left -= piece
    return path


def multichannel_wav(path: Path, voice: np.ndarray, channels: int, rate: int = 16_000) -> Path:
    """The voice on channel 0 and silence on the others (a mic on one track of a recorder)."""
    tracks = np.zeros((len(voice), channels), dtype=np.float32)
    tracks[:, 0] = voice
    return write_wav(path, tracks, rate)
