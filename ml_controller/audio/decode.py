"""Decode any file FFmpeg can read into 16 kHz mono float32, streamed to disk.

The decoded samples go to a file that is memory-mapped, so a two-hour recording does not need
its samples in RAM at once; stages read the blocks they need.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from ml_controller.audio.constants import SAMPLE_RATE


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
        raise AudioInputError(f"{path}: the file is empty (0 bytes); it holds no recording.")
    if size > max_bytes:
        raise AudioInputError(
            f"{path}: {size / 1e9:.1f} GB is over the {max_bytes / 1e9:.1f} GB limit "
            "(MINUTA_MAX_INPUT_BYTES); split the recording or raise the limit."
        )


def _frames(container: av.container.InputContainer, path: Path) -> Iterator[np.ndarray]:
    if not container.streams.audio:
        raise AudioInputError(
            f"{path}: the file has no audio track; give a recording that contains sound."
        )
    stream = container.streams.audio[0]
    stream.codec_context.thread_type = "AUTO"
    resampler = av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)
    for frame in container.decode(stream):
        for out in resampler.resample(frame):
            yield out.to_ndarray().reshape(-1)
    for out in resampler.resample(None):
        yield out.to_ndarray().reshape(-1)


def decode_audio(
    path: Path | str,
    *,
    max_bytes: int = 4 * 1024**3,
    max_seconds: float | None = None,
    work_dir: Path | None = None,
    on_progress: Callable[[float], None] | None = None,
) -> DecodedAudio:
    """Decode `path` to 16 kHz mono float32.

    `on_progress` receives the decoded duration in seconds as decoding goes. A file whose end is
    damaged is decoded up to the damage and flagged `truncated`.
    """
    path = Path(path)
    _check_file(path, max_bytes)
    try:
        container = av.open(str(path), metadata_errors="ignore")
    except (av.error.InvalidDataError, UnicodeDecodeError) as exc:
        raise AudioInputError(
            f"{path}: not an audio or video file that FFmpeg can read ({exc.__class__.__name__}). "
            "Give a wav, flac, mp3, m4a, ogg/opus, webm or mp4 file."
        ) from exc
    except av.error.FFmpegError as exc:
        raise AudioInputError(f"{path}: cannot be opened: {exc}") from exc

    fd, tmp_name = tempfile.mkstemp(prefix="minuta-audio-", suffix=".f32", dir=work_dir)
    backing = Path(tmp_name)
    written = 0
    truncated = False
    limit = None if max_seconds is None else int(max_seconds * SAMPLE_RATE)
    try:
        with os.fdopen(fd, "wb") as sink, container:
            try:
                for chunk in _frames(container, path):
                    sink.write((chunk.astype(np.float32) / 32768.0).tobytes())
                    written += len(chunk)
                    if limit is not None and written > limit:
                        hours = limit / SAMPLE_RATE / 3600
                        raise AudioInputError(
                            f"{path}: longer than the {hours:.1f} h limit "
                            "(MINUTA_MAX_DURATION_HOURS); split the recording or raise the limit."
                        )
                    if on_progress is not None:
                        on_progress(written / SAMPLE_RATE)
            except av.error.InvalidDataError:
                # Damaged tail: keep what decoded cleanly rather than losing the whole meeting.
                truncated = True
            except av.error.EOFError:
                truncated = True
    except BaseException:
        backing.unlink(missing_ok=True)
        raise
    if written == 0:
        backing.unlink(missing_ok=True)
        if truncated:
            raise AudioInputError(
                f"{path}: the file is damaged and no audio could be decoded from it."
            )
        return DecodedAudio(path, np.zeros(0, dtype=np.float32), SAMPLE_RATE)
    samples = np.memmap(backing, dtype=np.float32, mode="r", shape=(written,))
    return DecodedAudio(path, samples, SAMPLE_RATE, truncated=truncated, _backing=backing)
