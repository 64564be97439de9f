from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from ml_controller.audio.decode import AudioInputError, decode_audio


def _ffmpeg(src: Path, dst: Path, *args: str) -> Path:
    if shutil.which("ffmpeg") is None:
        pytest.fail("ffmpeg is needed to make the container variants (apt-get install ffmpeg)")
    subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), *args, str(dst)], check=True
    )
    return dst


def test_wav_flac_ogg_mp3_decode_to_16k_mono(data_dir: Path) -> None:
    for rel, seconds in [
        ("audio/asr_en/jfk.flac", 11.0),
        ("audio/asr_en/LDC93S1.wav", 2.9),
        ("audio/asr_en/fleurs-en-000.ogg", 10.5),
        ("audio/asr_en/multilingual.mp3", None),
    ]:
        with decode_audio(data_dir / rel) as audio:
            assert audio.sample_rate == 16000
            assert audio.samples.ndim == 1
            assert audio.samples.dtype == np.float32
            assert float(np.abs(audio.samples).max()) <= 1.0
            assert float(np.abs(audio.samples).max()) > 0.01
            if seconds is not None:
                assert abs(audio.duration - seconds) < 0.2, rel


def test_m4a_webm_and_mp4_video_decode_like_the_source(data_dir: Path, tmp_path: Path) -> None:
    src = data_dir / "audio/asr_en/jfk.flac"
    with decode_audio(src) as ref:
        reference = np.array(ref.samples)
    m4a = _ffmpeg(src, tmp_path / "jfk.m4a", "-c:a", "aac")
    webm = _ffmpeg(src, tmp_path / "jfk.webm", "-c:a", "libopus")
    mp4 = tmp_path / "jfk.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=blue:s=64x64:d=11",
            "-i",
            str(src),
            "-shortest",
            "-c:v",
            "mpeg4",
            "-c:a",
            "aac",
            str(mp4),
        ],
        check=True,
    )
    for path in (m4a, webm, mp4):
        with decode_audio(path) as audio:
            assert abs(audio.duration - len(reference) / 16000) < 0.15, path.name
            n = min(len(reference), len(audio.samples)) - 4000
            # Lossy codecs shift and colour the signal; the envelope must still match.
            env_a = np.abs(reference[:n]).reshape(-1, 100)[: n // 100].mean(axis=1)
            env_b = np.abs(np.array(audio.samples[:n])).reshape(-1, 100)[: n // 100].mean(axis=1)
            assert np.corrcoef(env_a, env_b)[0, 1] > 0.9, path.name


def test_stereo_is_mixed_to_mono(data_dir: Path) -> None:
    with decode_audio(data_dir / "audio/asr_en/stereo_diarization.wav") as audio:
        assert audio.samples.ndim == 1 and audio.duration > 1


def test_missing_empty_folder_and_text_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(AudioInputError, match="no such file"):
        decode_audio(tmp_path / "nope.wav")
    empty = tmp_path / "empty.m4a"
    empty.touch()
    with pytest.raises(AudioInputError, match="empty"):
        decode_audio(empty)
    with pytest.raises(AudioInputError, match="folder"):
        decode_audio(tmp_path)
    text = tmp_path / "notes.mp3"
    text.write_text("these are meeting notes, not a recording\n" * 50)
    with pytest.raises(AudioInputError, match="not an audio or video file"):
        decode_audio(text)


def test_video_without_audio_track_is_explained(tmp_path: Path) -> None:
    video = tmp_path / "silent.mp4"
    subprocess.run(
        [
            "ffmpeg",
            "-loglevel",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            "color=c=red:s=32x32:d=2",
            "-c:v",
            "mpeg4",
            str(video),
        ],
        check=True,
    )
    with pytest.raises(AudioInputError, match="no audio track"):
        decode_audio(video)


def test_truncated_file_keeps_what_decodes(data_dir: Path, tmp_path: Path) -> None:
    mp3 = _ffmpeg(data_dir / "audio/asr_en/jfk.flac", tmp_path / "jfk.mp3")
    cut = tmp_path / "cut.mp3"
    cut.write_bytes(mp3.read_bytes()[: mp3.stat().st_size // 2])
    with decode_audio(cut) as audio:
        assert 3.0 < audio.duration < 8.0


def test_size_and_duration_limits(data_dir: Path) -> None:
    src = data_dir / "audio/asr_en/jfk.flac"
    with pytest.raises(AudioInputError, match="limit"):
        decode_audio(src, max_bytes=1000)
    with pytest.raises(AudioInputError, match="limit"):
        decode_audio(src, max_seconds=5)


def test_backing_file_is_removed_on_close(data_dir: Path) -> None:
    audio = decode_audio(data_dir / "audio/asr_en/jfk.flac")
    backing = audio._backing
    assert backing is not None and backing.exists()
    audio.close()
    assert not backing.exists()
