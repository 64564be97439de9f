"""Transcribe recordings with the product's own ASR path and cut the result into training clips.

The same decode → speech detection → faster-whisper steps as `minuta process` run here, so the
pseudo-labels are what the product would have written, with Whisper's per-word probabilities.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from core.results import Word
from ml_controller.asr.whisper import WhisperTranscriber
from ml_controller.audio.decode import decode_audio
from ml_controller.audio.vad import detect_speech, plan_blocks, vad_options
from ml_controller.settings import MLSettings
from ml_controller.types import AsrSegment

AUDIO_SUFFIXES = frozenset(
    {".wav", ".flac", ".mp3", ".ogg", ".opus", ".m4a", ".aac", ".webm", ".mp4", ".mkv"}
)


@dataclass
class PseudoLabel:
    """Whisper's transcript of one recording."""

    audio: Path
    language: str
    duration: float
    segments: list[AsrSegment]
    seconds: float = 0.0

    @property
    def text(self) -> str:
        return " ".join(s.text.strip() for s in self.segments if s.text.strip())


@dataclass
class Clip:
    """Consecutive segments of one recording short enough for one Whisper window."""

    start: float
    end: float
    texts: list[str] = field(default_factory=list)
    words: list[Word] = field(default_factory=list)

    @property
    def text(self) -> str:
        return " ".join(t.strip() for t in self.texts if t.strip())


def find_audio(inputs: Iterable[Path]) -> list[Path]:
    """Audio files among `inputs`, folders searched recursively, in a stable order."""
    found: list[Path] = []
    for item in inputs:
        path = Path(item).expanduser()
        if path.is_dir():
            found.extend(
                sorted(
                    p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
                )
            )
        elif path.is_file():
            found.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such audio file or folder; check `inputs`")
    return list(dict.fromkeys(p.resolve() for p in found))


class PseudoLabeler:
    """Holds one Whisper model for all recordings of a run."""

    def __init__(self, settings: MLSettings) -> None:
        self.settings = settings
        self.transcriber = WhisperTranscriber(settings)

    def label(self, path: Path, language: str | None = None) -> PseudoLabel:
        began = time.perf_counter()
        with decode_audio(path, max_bytes=self.settings.max_input_bytes) as audio:
            vad = vad_options(self.settings.vad_threshold, self.settings.vad_min_silence_ms)
            blocks = plan_blocks(detect_speech(audio, vad), self.settings.asr_block_seconds)
            if not blocks:
                return PseudoLabel(path, language or "", audio.duration, [], 0.0)
            result = self.transcriber.transcribe(audio, blocks, vad, language=language)
            return PseudoLabel(
                audio=path,
                language=result.language,
                duration=audio.duration,
                segments=result.segments,
                seconds=time.perf_counter() - began,
            )

    def label_all(
        self, paths: list[Path], languages: dict[Path, str | None] | None = None
    ) -> list[PseudoLabel]:
        languages = languages or {}
        return [
            self.label(p, languages.get(p))
            for p in tqdm(paths, desc="pseudo-labelling", unit="file")
        ]


def clips(label: PseudoLabel, max_seconds: float, max_gap: float = 2.0) -> list[Clip]:
    """Merge consecutive segments into clips of at most `max_seconds`; long pauses split them."""
    out: list[Clip] = []
    current: Clip | None = None
    for seg in label.segments:
        if not seg.text.strip():
            continue
        fits = (
            current is not None
            and seg.end - current.start <= max_seconds
            and seg.start - current.end <= max_gap
        )
        if current is not None and fits:
            current.end = seg.end
            current.texts.append(seg.text)
            current.words.extend(seg.words)
        else:
            current = Clip(seg.start, seg.end, [seg.text], list(seg.words))
            out.append(current)
    # A single segment longer than a window cannot be a training clip.
    return [c for c in out if c.end - c.start <= 30.0]
