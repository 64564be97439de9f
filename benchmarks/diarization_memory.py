"""Peak memory of the CPU diarizer against the length of the recording.

    python -m benchmarks.diarization_memory [--minutes 5 20 60]

Each length is a recording built by `benchmarks.speed.build_recording` (real recordings from
../shared/data back to back, written to the model cache, never into the repo) and diarized in a
process of its own, so each peak belongs to that length alone. The decoded audio is memory-mapped
(ml_controller/audio/decode.py): pages of it that were read count in the resident set but are
the kernel's to drop, so the anonymous resident set (what the process itself holds) is reported
next to the whole one. Writes benchmarks/results/diarization_memory.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from pathlib import Path

from benchmarks.speed import RESULTS, build_recording
from ml_controller.settings import MLSettings

_POLL_SECONDS = 0.02


def _status_mb(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


class PeakAnon:
    """Polls the anonymous resident set in a thread and keeps its maximum."""

    def __init__(self) -> None:
        self.peak = _status_mb("RssAnon")
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(_POLL_SECONDS):
            self.peak = max(self.peak, _status_mb("RssAnon"))

    def __enter__(self) -> PeakAnon:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _status_mb("RssAnon"))


def measure(path: Path) -> dict[str, float | int]:
    """Diarize one file (models loaded and speech detected first) and report its memory."""
    from core.contracts import SpeakerHints
    from ml_controller.audio.decode import decode_audio
    from ml_controller.audio.vad import detect_speech, vad_options
    from ml_controller.diarization.cpu import CpuDiarizer

    settings = MLSettings()
    diarizer = CpuDiarizer.from_settings(settings)
    with decode_audio(path) as audio:
        speech = detect_speech(
            audio, vad_options(settings.vad_threshold, settings.vad_min_silence_ms)
        )
        before = _status_mb("RssAnon")
        began = time.perf_counter()
        with PeakAnon() as anon:
            result = diarizer.diarize(audio.samples, speech, SpeakerHints())
        took = time.perf_counter() - began
        duration = audio.duration
    return {
        "minutes_of_audio": round(duration / 60, 1),
        "anon_rss_mb_before_diarization": round(before, 1),
        "peak_anon_rss_mb_diarization": round(anon.peak, 1),
        "diarization_growth_mb": round(anon.peak - before, 1),
        "peak_rss_mb_with_mapped_audio": round(_status_mb("VmHWM"), 1),
        "x_real_time": round(took / duration, 4),
        "speakers": len(result.speakers),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, nargs="+", default=[5.0, 20.0, 60.0])
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child)))
        return
    cache = MLSettings().cache_dir / "bench"
    rows = []
    for minutes in args.minutes:
        path = build_recording(minutes, cache / f"concat_{int(minutes)}min.wav")
        cmd = [sys.executable, "-m", "benchmarks.diarization_memory", "--child", str(path)]
        out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
        row = json.loads(out.strip().splitlines()[-1])
        print(json.dumps(row), flush=True)
        rows.append(row)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "diarization_memory.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
