"""The audio decoder and `minuta process` against hostile and broken files.

Each file runs in a child process (tests/ml_controller/audio/probe.py) under an address-space
ceiling and a timeout. Allowed outcomes: decoded, or refused with an AudioInputError whose message
names the file, what is wrong and what to do. A traceback, a crash, a hang or memory beyond the
bound fails the test. The big files (100 MB of noise, 4 h and 13 h of silence) are made once per
session. Set MINUTA_HOSTILE_REPORT=path.jsonl to collect the time and peak RSS of every case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.ml_controller.audio import hostile_files as hf

REPO = Path(__file__).resolve().parents[3]
PROBE = (sys.executable, "-m", "tests.ml_controller.audio.probe")
JFK = REPO.parent / "shared" / "data" / "audio" / "asr_en" / "jfk.flac"
JFK_SECONDS = 11.0

# Ceilings of the child process, generous because 2 cores are shared with other test runs.
ADDRESS_SPACE_BYTES = 4 * 1024**3  # decode only: `minuta process` maps its models' files
DECODE_RSS_MB = 400.0
PROCESS_RSS_MB = 1536.0  # the brief's bound for 4 h of silence through the whole pipeline
DECODE_TIMEOUT = 120.0
PROCESS_TIMEOUT = 240.0


@dataclass
class Outcome:
    outcome: str
    seconds: float
    peak_rss_mb: float
    message: str = ""
    duration: float = 0.0
    truncated: bool = False
    peak: float = 0.0
    exit_code: int = 0
    stdout: str = ""
    stderr: str = ""


def _child_env(**settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINUTA_")}
    if "MINUTA_CACHE_DIR" in os.environ:
        env["MINUTA_CACHE_DIR"] = os.environ["MINUTA_CACHE_DIR"]
    env.update(
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        MINUTA_THREADS="1",
        MINUTA_LLM_ENGINE="none",
        **settings,
    )
    return env


def run_probe(
    mode: str, path: Path, tmp: Path, *args: str, label: str = "", **settings: str
) -> Outcome:
    report = tmp / f"{path.name}.{mode}.json"
    report.unlink(missing_ok=True)
    timeout = DECODE_TIMEOUT if mode == "decode" else PROCESS_TIMEOUT
    limit = (
        {"MINUTA_PROBE_ADDRESS_SPACE_BYTES": str(ADDRESS_SPACE_BYTES)} if mode == "decode" else {}
    )
    try:
        done = subprocess.run(
            [*PROBE, mode, str(path), str(report), *args],
            cwd=REPO,
            env=_child_env(**settings, **limit),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"{path.name} ({mode}): no answer within {timeout:.0f} s (a hang)")
    assert "Traceback" not in done.stderr, f"{path.name} ({mode}) crashed:\n{done.stderr[-3000:]}"
    assert done.returncode == 0 and report.exists(), (
        f"{path.name} ({mode}) died with {done.returncode}:\n{done.stderr[-3000:]}"
    )
    found: dict[str, Any] = json.loads(report.read_text())
    outcome = Outcome(**found, stdout=done.stdout, stderr=done.stderr)
    _record(label or path.name, mode, outcome)
    bound = DECODE_RSS_MB if mode == "decode" else PROCESS_RSS_MB
    assert outcome.peak_rss_mb < bound, f"{path.name} ({mode}): {outcome.peak_rss_mb:.0f} MB"
    return outcome


def _record(label: str, mode: str, outcome: Outcome) -> None:
    target = os.environ.get("MINUTA_HOSTILE_REPORT")
    if not target:
        return
    row = {
        "case": label,
        "mode": mode,
        "outcome": outcome.outcome,
        "seconds": round(outcome.seconds, 2),
        "peak_rss_mb": round(outcome.peak_rss_mb),
        "duration": round(outcome.duration, 1),
        "message": outcome.message or outcome.stderr.strip()[-300:],
    }
    with open(target, "a") as out:
        out.write(json.dumps(row) + "\n")


def assert_refused(outcome: Outcome, path: Path, *phrases: str) -> None:
    """Refused with a message naming the file, what is wrong and (a verb) what to do."""
    message = outcome.message
    assert outcome.outcome == "refused", f"{path.name} was accepted: {outcome}"
    assert str(path) in message, message
    for phrase in phrases:
        assert phrase in message, message
    assert any(verb in message.lower() for verb in ("give", "re-encode", "split", "export")), (
        message
    )


# The files: small ones per test (cheap), big ones once per session.


@pytest.fixture(scope="session")
def voice() -> np.ndarray:
    if not JFK.exists():
        pytest.fail(f"test recording not found at {JFK}")
    return hf.speech(JFK)


@pytest.fixture(scope="session")
def big_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("hostile-big")
    no_length = hf.without_flac_length(hf.silent_flac(folder / "silence-2h.flac", 2 * 3600, 8000))
    return {
        "noise": hf.noise_wav(folder / "noise-100MB.wav", 100 * 10**6),
        "silence_4h": hf.silent_flac(folder / "silence-4h.flac", 4 * 3600, 16_000),
        "bomb_13h": hf.silent_flac(folder / "silence-13h.flac", 13 * 3600, 8000),
        "bomb_no_length": no_length,
    }


Builder = Callable[[Path, np.ndarray], Path]


def _cut(codec: str, suffix: str, rate: int = 16_000, **kwargs: Any) -> Builder:
    def build(folder: Path, voice: np.ndarray) -> Path:
        source = voice if rate == 16_000 else hf.speech(JFK, rate)
        whole = hf.encode(folder / f"whole{suffix}", source, rate, codec, **kwargs)
        return hf.truncated(whole, folder / f"truncated{suffix}")

    return build


def _wav_cut(folder: Path, voice: np.ndarray) -> Path:
    return hf.truncated(hf.write_wav(folder / "whole.wav", voice, 16_000), folder / "cut.wav")


def _mp3_named_wav(folder: Path, voice: np.ndarray) -> Path:
    return hf.encode(folder / "really-an-mp3.wav", voice, 16_000, "libmp3lame")


def _huge_declared(folder: Path, voice: np.ndarray) -> Path:
    return hf.write_wav(folder / "declares-4GB.wav", voice, 16_000, declared=0xFFFFFFFF)


# name -> (builder, expected decoded seconds: (low, high))
DECODED: dict[str, tuple[Builder, tuple[float, float]]] = {
    "truncated wav": (_wav_cut, (5.0, 6.0)),
    "truncated mp3": (_cut("libmp3lame", ".mp3"), (4.0, 7.0)),
    "truncated webm/opus": (_cut("libopus", ".webm", rate=48_000), (3.0, 8.0)),
    # With its index first (faststart), the cut-off part of an MP4 is simply missing.
    "truncated m4a (faststart)": (
        _cut("aac", ".m4a", options={"movflags": "faststart"}),
        (3.0, 8.0),
    ),
    "mp3 named .wav": (_mp3_named_wav, (10.5, 11.5)),
    "wav declaring 0xFFFFFFFF bytes": (_huge_declared, (10.5, 11.5)),
}


@pytest.mark.parametrize("case", list(DECODED))
def test_damaged_or_mislabelled_files_decode_what_they_hold(
    case: str, voice: np.ndarray, tmp_path: Path
) -> None:
    build, (low, high) = DECODED[case]
    path = build(tmp_path, voice)
    outcome = run_probe("decode", path, tmp_path, label=case)
    assert outcome.outcome == "ok", outcome.message
    assert low <= outcome.duration <= high, outcome
    assert outcome.peak > 0.05, "the voice is in what was decoded"


def _text_named_m4a(folder: Path, voice: np.ndarray) -> Path:
    path = folder / "minutes.m4a"
    path.write_text("Meeting notes\nAnn: let's ship on Friday\n" * 200)
    return path


def _zero_length(folder: Path, voice: np.ndarray) -> Path:
    path = folder / "empty.wav"
    path.write_bytes(b"")
    return path


def _header_only(folder: Path, voice: np.ndarray) -> Path:
    path = folder / "header-only.wav"
    path.write_bytes(hf.wav_header(0xFFFFFFFF, 16_000, 1))
    return path


def _m4a_cut_before_index(folder: Path, voice: np.ndarray) -> Path:
    # PyAV's MP4 muxer writes the index (moov) last: half a file has none.
    return _cut("aac", ".m4a")(folder, voice)


def _rate(rate: int) -> Builder:
    def build(folder: Path, voice: np.ndarray) -> Path:
        return hf.write_wav(folder / f"rate-{rate}.wav", voice[: 16_000 * 2], rate)

    return build


def _channels(count: int) -> Builder:
    def build(folder: Path, voice: np.ndarray) -> Path:
        return hf.multichannel_wav(folder / f"channels-{count}.wav", voice[: 16_000 * 2], count)

    return build


# name -> (builder, phrases the message must hold)
REFUSED: dict[str, tuple[Builder, tuple[str, ...]]] = {
    "zero-length": (_zero_length, ("empty (0 bytes)",)),
    "wav header without samples": (_header_only, ("no audio samples",)),
    "text named .m4a": (_text_named_m4a, ("not an audio or video file",)),
    "truncated m4a (index at the end)": (_m4a_cut_before_index, ("cut off before its index",)),
    "1 Hz sample rate (2 s of samples = 9 h)": (_rate(1), ("sample rate of 1 Hz",)),
    "768 kHz sample rate": (_rate(768_000), ("sample rate of 768000 Hz",)),
    "65 channels": (_channels(65), ("65 channels", "MINUTA_MAX_AUDIO_CHANNELS")),
}


@pytest.mark.parametrize("case", list(REFUSED))
def test_unusable_files_are_refused_with_a_clear_message(
    case: str, voice: np.ndarray, tmp_path: Path
) -> None:
    build, phrases = REFUSED[case]
    path = build(tmp_path, voice)
    outcome = run_probe("decode", path, tmp_path, label=case)
    assert_refused(outcome, path, *phrases)
    assert outcome.seconds < 10, "refused before decoding"


@pytest.mark.parametrize("rate", [8000, 11_025, 7350, 96_000, 192_000])
def test_odd_sample_rates_decode_to_16k(rate: int, voice: np.ndarray, tmp_path: Path) -> None:
    source = hf.speech(JFK, rate)
    path = hf.write_wav(tmp_path / f"jfk-{rate}.wav", source, rate)
    outcome = run_probe("decode", path, tmp_path, label=f"{rate} Hz")
    assert outcome.outcome == "ok", outcome.message
    assert abs(outcome.duration - JFK_SECONDS) < 0.1
    assert outcome.peak > 0.05


@pytest.mark.parametrize("channels", [8, 32, 64])
def test_many_channels_are_mixed_down(channels: int, voice: np.ndarray, tmp_path: Path) -> None:
    path = hf.multichannel_wav(tmp_path / f"ch{channels}.wav", voice[: 16_000 * 3], channels)
    outcome = run_probe("decode", path, tmp_path, label=f"{channels} channels")
    assert outcome.outcome == "ok", outcome.message
    assert abs(outcome.duration - 3.0) < 0.05
    # One voiced track among `channels`: its level divided by about the track count.
    assert outcome.peak > float(np.abs(voice[: 16_000 * 3]).max()) / channels / 2


def test_declared_13_hours_are_refused_before_decoding(
    big_files: dict[str, Path], tmp_path: Path
) -> None:
    path = big_files["bomb_13h"]
    assert path.stat().st_size < 16 * 10**6  # 13 h of 8 kHz audio in a few MB
    outcome = run_probe("decode", path, tmp_path, label="13 h of silence, 9 MB FLAC")
    assert_refused(outcome, path, "declares 13.0 h", "MINUTA_MAX_DURATION_HOURS")
    assert outcome.seconds < 10


def test_an_undeclared_length_stops_at_the_duration_limit(
    big_files: dict[str, Path], tmp_path: Path
) -> None:
    path = big_files["bomb_no_length"]
    outcome = run_probe("decode", path, tmp_path, "1", label="2 h FLAC, length unknown, 1 h limit")
    assert_refused(outcome, path, "longer than the 1.0 h limit")
    assert outcome.seconds < 60


def test_100_megabytes_of_noise_decode_in_bounded_memory(
    big_files: dict[str, Path], tmp_path: Path
) -> None:
    path = big_files["noise"]
    outcome = run_probe("decode", path, tmp_path, label="100 MB noise WAV (48 kHz stereo)")
    assert outcome.outcome == "ok", outcome.message
    assert abs(outcome.duration - 100e6 / 192_000) < 1.0
    assert outcome.seconds < 60


def test_a_decode_past_its_time_budget_is_stopped(
    big_files: dict[str, Path], tmp_path: Path
) -> None:
    path = big_files["noise"]
    outcome = run_probe(
        "decode",
        path,
        tmp_path,
        label="100 MB noise, 0.05 s budget",
        MINUTA_MAX_DECODE_SECONDS="0.05",
    )
    assert_refused(outcome, path, "decoding took longer than 0.05 s", "MINUTA_MAX_DECODE_SECONDS")


def test_4_hours_of_silence_decode_in_bounded_memory(
    big_files: dict[str, Path], tmp_path: Path
) -> None:
    path = big_files["silence_4h"]
    outcome = run_probe("decode", path, tmp_path, label="4 h silence FLAC")
    assert outcome.outcome == "ok", outcome.message
    assert abs(outcome.duration - 4 * 3600) < 1.0
    assert outcome.seconds < 90


# The whole `minuta process` path, where it is cheap.


def test_process_4_hours_of_silence_runs_no_asr(big_files: dict[str, Path], tmp_path: Path) -> None:
    path = big_files["silence_4h"]
    outcome = run_probe(
        "process", path, tmp_path, "-f", "json", "-q", "--no-minutes", label="4 h silence FLAC"
    )
    assert outcome.exit_code == 0, outcome.stderr
    result = json.loads(outcome.stdout)
    assert result["segments"] == [] and result["speakers"] == []
    assert abs(result["audio"]["duration"] - 4 * 3600) < 1.0
    assert result["timings"]["transcription"] < 1.0  # nothing was sent to Whisper
    assert "no speech" in outcome.stderr
    assert outcome.seconds < 150
    # Whisper is never loaded, and the 0.9 GB of decoded samples are read a block at a time.
    assert outcome.peak_rss_mb < 512


def test_process_refuses_hostile_files_without_a_traceback(
    big_files: dict[str, Path], voice: np.ndarray, tmp_path: Path
) -> None:
    for path, phrase in (
        (_text_named_m4a(tmp_path, voice), "not an audio or video file"),
        (big_files["bomb_13h"], "declares 13.0 h"),
    ):
        outcome = run_probe("process", path, tmp_path, "-q", "--no-minutes")
        assert outcome.exit_code == 2, outcome.stderr
        assert phrase in outcome.stderr and path.name in outcome.stderr


def test_process_transcribes_32_tracks_at_7350_hz(voice: np.ndarray, tmp_path: Path) -> None:
    """The by-hand mixdown and an odd rate together, through ASR."""
    low = hf.speech(JFK, 7350)
    path = hf.multichannel_wav(tmp_path / "jfk-32ch-7350.wav", low, 32, rate=7350)
    outcome = run_probe(
        "process",
        path,
        tmp_path,
        "-f",
        "json",
        "-q",
        "--no-minutes",
        "--language",
        "en",
        label="JFK on 1 of 32 tracks at 7350 Hz",
    )
    assert outcome.exit_code == 0, outcome.stderr
    text = " ".join(s["text"] for s in json.loads(outcome.stdout)["segments"]).lower()
    assert "country" in text
