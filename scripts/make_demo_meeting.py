"""Render samples/demo_meeting.json to a 16 kHz WAV with espeak-ng voices (needs espeak-ng).

The demo needs a recording, and the evaluation recordings may not be redistributed in this
repo, so setup synthesizes one from a script written for the project.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

from ml_controller.audio.decode import decode_audio

RATE = 16_000


def render(script: Path, out: Path, seed: int = 7) -> Path:
    spec = json.loads(script.read_text())
    rng = random.Random(seed)
    pieces: list[np.ndarray] = [np.zeros(int(0.5 * RATE), dtype=np.float32)]
    with tempfile.TemporaryDirectory() as tmp:
        for index, (speaker, text) in enumerate(spec["turns"]):
            voice = spec["voices"][speaker]
            wav = Path(tmp) / f"{index}.wav"
            subprocess.run(
                [
                    "espeak-ng",
                    "-v",
                    voice["voice"],
                    "-p",
                    str(voice["pitch"]),
                    "-s",
                    str(voice["speed"]),
                    "-w",
                    str(wav),
                    text,
                ],
                check=True,
            )
            with decode_audio(wav) as audio:
                pieces.append(np.array(audio.samples) * 0.8)
            pieces.append(np.zeros(int(rng.uniform(0.3, 0.9) * RATE), dtype=np.float32))
    signal = np.concatenate(pieces)
    # Light noise so the demo is not perfectly clean studio audio.
    signal += np.random.default_rng(seed).normal(0, 0.003, len(signal)).astype(np.float32)
    pcm = (np.clip(signal, -1, 1) * 32767).astype("<i2")
    out.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(out), "wb") as handle:
        handle.setnchannels(1)
        handle.setsampwidth(2)
        handle.setframerate(RATE)
        handle.writeframes(pcm.tobytes())
    return out


if __name__ == "__main__":
    script = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("samples/demo_meeting.json")
    target = Path(sys.argv[2]) if len(sys.argv) > 2 else Path("demo_meeting.wav")
    print(render(script, target))
