"""Content sniffing: real recordings in many containers are recognised, other files are not."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from services.api.sniff import SNIFF_BYTES, NotAudioError, sniff
from services.api.upload import human_size

# ffmpeg arguments turning jfk.flac into each container.
CONVERSIONS = {
    "mp3_no_id3": (["-c:a", "libmp3lame", "-id3v2_version", "0", "-write_xing", "0"], "mp3"),
    "mp3_id3": (["-c:a", "libmp3lame"], "mp3"),
    "m4a": (["-c:a", "aac"], "m4a"),
    "aac_adts": (["-c:a", "aac", "-f", "adts"], "aac"),
    "webm_opus": (["-c:a", "libopus"], "webm"),
    "mkv": (["-c:a", "flac"], "mkv"),
    "ogg_vorbis": (["-c:a", "libvorbis"], "ogg"),
    "aiff": ([], "aiff"),
    "wav": ([], "wav"),
}
EXPECTED = {
    "mp3_no_id3": "audio/mpeg",
    "mp3_id3": "audio/mpeg",
    "m4a": "audio/mp4",
    "aac_adts": "audio/aac",
    "webm_opus": "audio/webm",
    "mkv": "audio/x-matroska",
    "ogg_vorbis": "audio/ogg",
    "aiff": "audio/aiff",
    "wav": "audio/wav",
}


@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_recordings_converted_by_ffmpeg_are_recognised(
    name: str, audio_dir: Path, tmp_path: Path
) -> None:
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        pytest.fail("ffmpeg is needed to make the test recordings (apt-get install ffmpeg)")
    args, extension = CONVERSIONS[name]
    out = tmp_path / f"jfk.{extension}"
    subprocess.run(
        [
            ffmpeg,
            "-nostdin",
            "-v",
            "error",
            "-y",
            "-t",
            "3",
            "-i",
            str(audio_dir / "asr_en" / "jfk.flac"),
            *args,
            str(out),
        ],
        check=True,
    )
    assert sniff(out.read_bytes()[:SNIFF_BYTES]).content_type == EXPECTED[name]


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("asr_en/jfk.flac", "audio/flac"),
        ("asr_en/multilingual.mp3", "audio/mpeg"),
        ("asr_en/fleurs-en-000.ogg", "audio/ogg"),
        ("asr_en/LDC93S1.wav", "audio/wav"),
        ("pyannote_sample/sample.wav", "audio/wav"),
    ],
)
def test_shared_recordings(audio_dir: Path, path: str, expected: str) -> None:
    sniffed = sniff((audio_dir / path).read_bytes()[:SNIFF_BYTES])
    assert sniffed.content_type == expected


def test_video_containers_are_accepted_for_their_audio() -> None:
    mp4 = b"\x00\x00\x00\x20ftypisom\x00\x00\x02\x00isomiso2avc1mp41"
    assert sniff(mp4).content_type == "video/mp4"
    assert sniff(b"\x00\x00\x00\x14ftypqt  \x00\x00\x00\x00").content_type == "video/quicktime"


@pytest.mark.parametrize(
    ("head", "fragment"),
    [
        (b"hello, this is a transcript, not audio\n" * 10, "looks like text"),
        ("Протокол встречи\n".encode() * 10, "looks like text"),
        (b"PK\x03\x04" + bytes(100), "a ZIP archive"),
        (
            b"OggS\x00\x02" + bytes(20) + b"\x01\x1e\x80theora" + bytes(40),
            "Ogg file without an audio",
        ),
        (b"\xff\xd8\xff\xe0" + bytes(100), "a JPEG image"),
    ],
)
def test_non_audio_is_refused_with_a_reason(head: bytes, fragment: str) -> None:
    with pytest.raises(NotAudioError, match=fragment):
        sniff(head)


def test_human_sizes() -> None:
    assert human_size(512) == "512 bytes"
    assert human_size(2 * 1024**3) == "2 GiB"
    assert human_size(6 * 1024**2) == "6 MiB"
    assert human_size(1536) == "1.5 KiB"
