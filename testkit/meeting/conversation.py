"""Real speech for the test meeting: two participants taking turns with FLEURS and JFK clips.

Each participant gets a WAV (the fake microphone of its Chromium) holding its own turns and
silence during the other's, so the meeting is a conversation without overlap. The same turns
mixed into one file are the "source audio" the bot's recording is compared with.
"""

from __future__ import annotations

import json
import subprocess
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from testkit.processes import AUDIO

RATE = 48000
ASR_EN = AUDIO / "asr_en"
# (speaker, clip) in speaking order: ~52 s of real English speech.
TURNS = (
    ("A", "jfk.flac"),
    ("B", "fleurs-en-001.ogg"),
    ("A", "fleurs-en-000.ogg"),
    ("B", "fleurs-en-003.ogg"),
    ("A", "fleurs-en-002.ogg"),
    ("B", "fleurs-en-004.ogg"),
)
LEAD_SECONDS = 1.0
# Wider than the time between the two participants' microphones starting, so turns never overlap.
GAP_SECONDS = 2.5
# The clips were recorded at very different levels (some near -50 dBFS); people in a call speak
# at a normal level, so each clip is brought to the same loudness.
TARGET_RMS_DBFS = -22.0


@dataclass(frozen=True)
class Conversation:
    speaker_wavs: dict[str, Path]
    mix_wav: Path
    reference: str
    duration: float


def decode_pcm16(path: Path, rate: int) -> np.ndarray:
    """Any audio file as mono 16-bit samples at `rate` (ffmpeg)."""
    command = ["ffmpeg", "-v", "error", "-i", str(path), "-ac", "1", "-ar", str(rate)]
    raw = subprocess.run([*command, "-f", "s16le", "-"], check=True, capture_output=True).stdout
    return np.frombuffer(raw, dtype=np.int16)


def _decode(path: Path) -> np.ndarray:
    return _level(decode_pcm16(path, RATE))


def _level(clip: np.ndarray) -> np.ndarray:
    samples = clip.astype(np.float64)
    rms = float(np.sqrt(np.mean(samples**2))) or 1.0
    gain = 32768 * 10 ** (TARGET_RMS_DBFS / 20) / rms
    gain = min(gain, 32000 / max(float(np.abs(samples).max()), 1.0))  # no clipping
    return (samples * gain).astype(np.int16)


def _write(path: Path, samples: np.ndarray) -> Path:
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(RATE)
        out.writeframes(samples.astype(np.int16).tobytes())
    return path


def build_conversation(folder: Path, turns: tuple[tuple[str, str], ...] = TURNS) -> Conversation:
    references = {
        row["file"]: row["text"]
        for row in map(json.loads, (ASR_EN / "references.jsonl").read_text().splitlines())
    }
    clips = [(speaker, _decode(ASR_EN / name)) for speaker, name in turns]
    gap = int(GAP_SECONDS * RATE)
    total = int(LEAD_SECONDS * RATE) + sum(len(clip) + gap for _, clip in clips)
    tracks = {speaker: np.zeros(total, dtype=np.int16) for speaker, _ in clips}
    at = int(LEAD_SECONDS * RATE)
    for speaker, clip in clips:
        tracks[speaker][at : at + len(clip)] = clip
        at += len(clip) + gap
    mix = np.sum([track.astype(np.int32) for track in tracks.values()], axis=0)
    folder.mkdir(parents=True, exist_ok=True)
    return Conversation(
        speaker_wavs={s: _write(folder / f"speaker_{s}.wav", t) for s, t in tracks.items()},
        mix_wav=_write(folder / "source_mix.wav", np.clip(mix, -32768, 32767)),
        reference=" ".join(str(references[name]) for _, name in turns),
        duration=total / RATE,
    )
