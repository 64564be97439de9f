"""Decode any file FFmpeg can read into 16 kHz mono float32, streamed to disk.

The decoded samples go to a file that is memory-mapped, so a two-hour recording does not need
its samples in RAM at once; stages read the blocks they need.

Hostile or broken files end in an AudioInputError that names the file, what is wrong and what to
do, never in a crash or an unbounded decode: the declared duration, channel count and sample rate
are checked before decoding, and the decoded duration and the wall time while decoding (a file
can declare nothing and still hold hours).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from ml_controller.audio.constants import SAMPLE_RATE
from ml_controller.settings import MLSettings


class AudioInputError(ValueError):
    """The input cannot be used; the message says which file, what is wrong and what to do."""


@dataclass
class DecodedAudio:
    """Samples of a decoded recording, backed by a temporary file until `close()`."""

    source: Path
    samples: np.ndarray
    sample_rate: int
    truncated: bool = False
    _backing: Path | None = field(default=None, repr=False)

    @property
    def duration(self) -> float:
        return len(self.samples) / self.sample_rate

    def block(self, start: float, end: float) -> np.ndarray:
        """A contiguous in-memory copy of [start, end) seconds."""
        a = max(0, int(start * self.sample_rate))
        b = min(len(self.samples), int(end * self.sample_rate))
        if self._backing is not None and b > a:
            # Read, not sliced from the map: pages touched through the map stay in this
            # process's RSS, so scanning 4 h block by block would hold all 0.9 GB of them.
            return np.fromfile(self._backing, dtype=np.float32, count=b - a, offset=a * 4)
        return np.array(self.samples[a:b], dtype=np.float32)

    def close(self) -> None:
        self.samples = np.zeros(0, dtype=np.float32)
        if self._backing is not None:
            self._backing.unlink(missing_ok=True)
            self._backing = None

    def __enter__(self) -> DecodedAudio:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_file(path: Path, max_bytes: int) -> None:
    if not path.exists():
        raise AudioInputError(f"{path}: no such file. Check the path and try again.")
    if path.is_dir():
        raise AudioInputError(f"{path}: is a folder; give an audio or video file.")
    size = path.stat().st_size
    if size == 0:
        raise AudioInputError(
            f"{path}: the file is empty (0 bytes); it holds no recording. Give the recording "
            "itself (an interrupted copy or download leaves an empty file)."
        )
    if size > max_bytes:
        raise AudioInputError(
            f"{path}: {size / 1e9:.1f} GB is over the {max_bytes / 1e9:.1f} GB limit "
            "(MINUTA_MAX_INPUT_BYTES); split the recording or raise the limit."
        )


@dataclass(frozen=True)
class DecodeLimits:
    """What a recording may be. Each bound has a setting (MINUTA_<NAME>, see MLSettings)."""

    max_bytes: int = 4 * 1024**3
    max_seconds: float | None = None
    # Meeting rigs have a few channels, multitrack recorders 32-64; every channel is mixed down.
    max_channels: int = 64
    # Below 4 kHz nothing of speech is left (a 1 Hz header would turn 1 MB into days of audio);
    # above 384 kHz (the highest rate of real audio gear) the header is a lie.
    min_sample_rate: int = 4_000
    max_sample_rate: int = 384_000
    # Wall time of the decode itself: hours of audio decode in a minute or two, so this only
    # stops a file built to decode slowly.
    max_decode_seconds: float | None = 1800.0


def limits_from(settings: MLSettings) -> DecodeLimits:
    return DecodeLimits(
        max_bytes=settings.max_input_bytes,
        max_seconds=settings.max_duration_hours * 3600,
        max_channels=settings.max_audio_channels,
        min_sample_rate=settings.min_sample_rate,
        max_sample_rate=settings.max_sample_rate,
        max_decode_seconds=settings.max_decode_seconds or None,
    )


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def _declared_seconds(container: av.container.InputContainer, stream: av.AudioStream) -> float:
    """The duration the headers claim (FFmpeg bounds a WAV's by its size); 0 when unknown."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _check_stream(
    path: Path, container: av.container.InputContainer, limits: DecodeLimits
) -> av.AudioStream:
    """The audio stream to decode, refused before decoding when its header is out of bounds."""
    if not container.streams.audio:
        raise AudioInputError(
            f"{path}: the file has no audio track; give a recording that contains sound."
        )
    stream = container.streams.audio[0]
    context = stream.codec_context
    channels = context.channels
    if channels > limits.max_channels:
        raise AudioInputError(
            f"{path}: the audio has {channels} channels, more than the {limits.max_channels} "
            "that are mixed down (MINUTA_MAX_AUDIO_CHANNELS); export a mono or stereo mix of "
            "the meeting and upload that."
        )
    rate = context.sample_rate or 0
    if not limits.min_sample_rate <= rate <= limits.max_sample_rate:
        raise AudioInputError(
            f"{path}: the audio declares a sample rate of {rate} Hz, outside "
            f"{limits.min_sample_rate}-{limits.max_sample_rate} Hz; the file is damaged or not "
            "a recording. Re-encode it (e.g. to 16 kHz WAV or Opus) and try again."
        )
    declared = _declared_seconds(container, stream)
    if limits.max_seconds is not None and declared > limits.max_seconds:
        raise AudioInputError(
            f"{path}: the file declares {_hours(declared)} of audio, over the "
            f"{_hours(limits.max_seconds)} limit (MINUTA_MAX_DURATION_HOURS); split the "
            "recording or raise the limit. If it is really shorter, its header is damaged: "
            "re-encode it."
        )
    return stream


def _to_mono(frame: av.AudioFrame) -> av.AudioFrame:
    """The frame's channels averaged into one, as float. For layouts FFmpeg's resampler refuses
    to mix (many channels in no named order, e.g. a 32-track WAV)."""
    channels = len(frame.layout.channels)
    data = frame.to_ndarray()
    if not frame.format.is_planar:
        data = data.reshape(-1, channels).T
    mono = data.astype(np.float64).mean(axis=0)
    if data.dtype.kind == "u":  # unsigned 8-bit: silence is 128
        mono = (mono - 128.0) / 128.0
    elif data.dtype.kind == "i":
        mono /= float(2 ** (8 * data.dtype.itemsize - 1))
    out = av.AudioFrame.from_ndarray(
        mono.astype(np.float32).reshape(1, -1), format="flt", layout="mono"
    )
    out.sample_rate = frame.sample_rate
    return out


def _frames(container: av.container.InputContainer, stream: av.AudioStream) -> Iterator[np.ndarray]:
    stream.codec_context.thread_type = "AUTO"
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    by_hand = False
    for frame in container.decode(stream):
        if not by_hand:
            try:
                converted = resampler.resample(frame)
            except (av.error.ArgumentError, ValueError):
                # FFmpeg cannot mix this layout down; average the channels here instead.
                by_hand = True
                resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
        if by_hand:
            converted = resampler.resample(_to_mono(frame))
        for out in converted:
            yield out.to_ndarray().reshape(-1)
    for out in resampler.resample(None):
        yield out.to_ndarray().reshape(-1)


def _open(path: Path) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.error.InvalidDataError, UnicodeDecodeError) as exc:
        raise AudioInputError(
            f"{path}: not an audio or video file that FFmpeg can read ({exc.__class__.__name__}), "
            "or one cut off before its index (an incomplete MP4/M4A download). Give a complete "
            "wav, flac, mp3, m4a, ogg/opus, webm or mp4 file."
        ) from exc
    except av.error.FFmpegError as exc:
        raise AudioInputError(
            f"{path}: cannot be opened ({exc}); check that it is a complete recording, or "
            "re-encode it (e.g. to WAV or Opus)."
        ) from exc


def decode_audio(
    path: Path | str,
    *,
    max_bytes: int = 4 * 1024**3,
    max_seconds: float | None = None,
    limits: DecodeLimits | None = None,
    work_dir: Path | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> DecodedAudio:
    """Decode `path` to 16 kHz mono float32.

    `limits` bounds the input (its `max_bytes` / `max_seconds` are overridden by the arguments of
    the same name when those are given). `on_progress` receives the decoded duration in seconds
    as decoding goes. A file whose end is damaged is decoded up to the damage and flagged
    `truncated`.
    """
    path = Path(path)
    limits = limits or DecodeLimits(max_bytes=max_bytes, max_seconds=max_seconds)
    _check_file(path, limits.max_bytes)
    container = _open(path)
    try:
        stream = _check_stream(path, container, limits)
    except BaseException:
        container.close()
        raise

    fd, tmp_name = tempfile.mkstemp(prefix="minuta-audio-", suffix=".f32", dir=work_dir)
    backing = Path(tmp_name)
    written = 0
    truncated = False
    limit = math.inf if limits.max_seconds is None else int(limits.max_seconds * SAMPLE_RATE)
    budget = limits.max_decode_seconds or math.inf
    began = time.monotonic()
    try:
        with os.fdopen(fd, "wb") as sink, container:
            try:
                for chunk in _frames(container, stream):
                    sink.write((chunk.astype(np.float32) / 32768.0).tobytes())
                    written += len(chunk)
                    if written > limit:
                        raise AudioInputError(
                            f"{path}: longer than the {_hours(limit / SAMPLE_RATE)} limit "
                            "(MINUTA_MAX_DURATION_HOURS); split the recording or raise the limit."
                        )
                    if time.monotonic() - began > budget:
                        raise AudioInputError(
                            f"{path}: decoding took longer than {budget:g} s "
                            f"(MINUTA_MAX_DECODE_SECONDS) after {written / SAMPLE_RATE:.0f} s of "
                            "audio; the file is damaged or unusually slow to decode. Re-encode "
                            "it (e.g. to Opus or WAV) and try again."
                        )
                    if on_progress is not None:
                        on_progress(written / SAMPLE_RATE)
            except (av.error.InvalidDataError, av.error.EOFError):
                # Damaged tail: keep what decoded cleanly rather than losing the whole meeting.
                truncated = True
            except av.error.FFmpegError as exc:
                if isinstance(exc, MemoryError):
                    raise  # the machine's trouble, not the file's
                if written == 0:
                    raise AudioInputError(
                        f"{path}: FFmpeg cannot decode its audio ({exc}); re-encode the "
                        "recording (e.g. to WAV or Opus) and try again."
                    ) from exc
                truncated = True
    except BaseException:
        backing.unlink(missing_ok=True)
        raise
    if written == 0:
        backing.unlink(missing_ok=True)
        what = (
            "is damaged and no audio could be decoded from it"
            if truncated
            else "holds no audio samples (0 s)"
        )
        raise AudioInputError(f"{path}: the file {what}; give a recording that contains sound.")
    samples = np.memmap(backing, dtype=np.float32, mode="r", shape=(written,))
    return DecodedAudio(path, samples, SAMPLE_RATE, truncated=truncated, _backing=backing)
