"""Speed and memory of the whole pipeline against plain faster-whisper, on long real audio.

    python -m benchmarks.speed --minutes 30 [--minutes 120] [--no-llm]

Builds a long recording by concatenating the real recordings in ../shared/data (AMI excerpts,
the pyannote sample, FLEURS, JFK, TIMIT, Golos, pisets and the synthetic meetings), then runs
each contender in its own process so peak RSS is that contender's alone.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np

from ml_controller.audio.decode import decode_audio
from ml_controller.settings import MLSettings

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
RESULTS = Path(__file__).resolve().parent / "results"


def _sources(data: Path) -> list[Path]:
    audio = data / "audio"
    files = sorted((audio / "pyannote_debug").glob("*.wav"))
    files = [f for f in files if f.name != "empty.wav"]
    files += [audio / "pyannote_sample" / "sample.wav"]
    files += sorted((audio / "asr_en").glob("fleurs-*.ogg"))
    files += [audio / "asr_en" / "jfk.flac", audio / "asr_ru" / "silero_vad_ru_notranscript.wav"]
    files += sorted((data / "synthetic_meetings").glob("*/*.wav"))
    return files


def build_recording(minutes: float, out: Path, data: Path = DATA) -> Path:
    """A 16 kHz mono WAV of at least `minutes`, real recordings back to back with short gaps."""
    if out.exists():
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    target = int(minutes * 60 * 16000)
    gap = np.zeros(8000, dtype="<i2")
    written = 0
    tmp = out.with_suffix(".partial")
    with wave.open(str(tmp), "wb") as sink:
        sink.setnchannels(1)
        sink.setsampwidth(2)
        sink.setframerate(16000)
        while written < target:
            for path in _sources(data):
                with decode_audio(path) as audio:
                    pcm = (np.clip(np.array(audio.samples), -1, 1) * 32767).astype("<i2")
                sink.writeframes(pcm.tobytes() + gap.tobytes())
                written += len(pcm) + len(gap)
                if written >= target:
                    break
    tmp.rename(out)
    return out


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_pipeline(path: Path, with_minutes: bool) -> dict[str, object]:
    from ml_controller.pipeline import MeetingPipeline, ProcessOptions

    began = time.perf_counter()
    result = MeetingPipeline().process(path, ProcessOptions(with_minutes=with_minutes))
    return {
        "wall": time.perf_counter() - began,
        "stages": result.timings,
        "peak_rss_mb": _peak_rss_mb(),
        "duration": result.audio.duration,
        "speakers": len(result.speakers),
        "segments": len(result.segments),
        "topics": len(result.topics),
    }


def run_plain_asr(path: Path) -> dict[str, object]:
    """What a user would write with faster-whisper alone: the same model, VAD and beam size."""
    from faster_whisper import WhisperModel

    from ml_controller.asr.whisper import resolve_model_dir

    settings = MLSettings()
    began = time.perf_counter()
    model = WhisperModel(
        str(resolve_model_dir(settings)),
        device="cpu",
        compute_type=settings.asr_compute_type,
        cpu_threads=settings.threads,
    )
    segments, info = model.transcribe(
        str(path), beam_size=settings.asr_beam_size, vad_filter=True, word_timestamps=True
    )
    count = sum(1 for _ in segments)
    return {
        "wall": time.perf_counter() - began,
        "peak_rss_mb": _peak_rss_mb(),
        "duration": info.duration,
        "segments": count,
    }


def _child(kind: str, path: Path, with_minutes: bool) -> dict[str, object]:
    cmd = [sys.executable, "-m", "benchmarks.speed", "--child", kind, "--file", str(path)]
    if not with_minutes:
        cmd.append("--no-llm")
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return dict(json.loads(out.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, action="append")
    parser.add_argument("--no-llm", action="store_true")
    parser.add_argument("--child", choices=["pipeline", "plain"])
    parser.add_argument("--file", type=Path)
    args = parser.parse_args()
    with_minutes = not args.no_llm
    if args.child:
        run = run_pipeline(args.file, with_minutes) if args.child == "pipeline" else None
        print(json.dumps(run or run_plain_asr(args.file)))
        return
    cache = MLSettings().cache_dir / "bench"
    report = []
    for minutes in args.minutes or [30.0]:
        path = build_recording(minutes, cache / f"concat_{int(minutes)}min.wav")
        plain = _child("plain", path, False)
        pipe = _child("pipeline", path, with_minutes)
        duration = float(pipe["duration"])  # type: ignore[arg-type]
        stages = dict(pipe["stages"])  # type: ignore[call-overload]
        no_llm = sum(v for k, v in stages.items() if k != "minutes")
        row = {
            "minutes_of_audio": round(duration / 60, 1),
            "plain_asr_rtf": round(float(plain["wall"]) / duration, 4),  # type: ignore[arg-type]
            "pipeline_rtf": round(float(pipe["wall"]) / duration, 4),  # type: ignore[arg-type]
            "pipeline_rtf_without_llm": round(no_llm / duration, 4),
            "ratio_without_llm_to_plain_asr": round(no_llm / float(plain["wall"]), 3),  # type: ignore[arg-type]
            "stage_rtf": {k: round(v / duration, 4) for k, v in stages.items()},
            "peak_rss_mb_pipeline": round(float(pipe["peak_rss_mb"]), 1),  # type: ignore[arg-type]
            "peak_rss_mb_plain_asr": round(float(plain["peak_rss_mb"]), 1),  # type: ignore[arg-type]
            "speakers": pipe["speakers"],
            "topics": pipe["topics"],
        }
        print(json.dumps(row), flush=True)
        report.append(row)
    RESULTS.mkdir(exist_ok=True)
    name = "speed.json" if with_minutes else "speed_no_llm.json"
    (RESULTS / name).write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
