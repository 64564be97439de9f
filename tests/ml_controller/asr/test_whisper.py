from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from core.settings import CacheSettings
from ml_controller.asr.whisper import (
    UnknownLanguageError,
    WhisperTranscriber,
    check_language,
    resolve_model_dir,
)
from ml_controller.audio.decode import decode_audio
from ml_controller.audio.vad import detect_speech, plan_blocks, vad_options
from ml_controller.metrics import word_error_rate
from ml_controller.settings import MLSettings
from ml_controller.types import Transcription


@pytest.fixture(scope="module")
def transcriber(settings: MLSettings) -> WhisperTranscriber:
    return WhisperTranscriber(settings)


def _run(transcriber: WhisperTranscriber, path: Path, language: str | None = None) -> Transcription:
    vad = vad_options(0.5, 500)
    with decode_audio(path) as audio:
        blocks = plan_blocks(detect_speech(audio, vad), 600)
        return transcriber.transcribe(audio, blocks, vad, language=language)


def _refs(data_dir: Path, folder: str) -> list[dict]:
    lines = (data_dir / "audio" / folder / "references.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def test_english_wer_on_real_recordings(transcriber: WhisperTranscriber, data_dir: Path) -> None:
    refs = [r for r in _refs(data_dir, "asr_en") if isinstance(r["text"], str)]
    hyps = []
    for ref in refs:
        result = _run(transcriber, data_dir / "audio/asr_en" / ref["file"])
        assert result.language == "en", ref["file"]
        hyps.append(" ".join(s.text for s in result.segments))
    # Whisper base measured ~5 % here; a broken decoder or timestamps offset gives far more.
    assert word_error_rate([r["text"] for r in refs], hyps) < 0.15


def test_russian_is_detected_and_transcribed(
    transcriber: WhisperTranscriber, data_dir: Path
) -> None:
    refs = _refs(data_dir, "asr_ru")
    hyps = []
    for ref in refs:
        result = _run(transcriber, data_dir / "audio/asr_ru" / ref["file"])
        assert result.language == "ru", ref["file"]
        hyps.append(" ".join(s.text for s in result.segments))
    assert word_error_rate([r["text"] for r in refs], hyps) < 0.5


def test_word_timestamps_are_ordered_and_inside_the_audio(
    transcriber: WhisperTranscriber, data_dir: Path
) -> None:
    result = _run(transcriber, data_dir / "audio/asr_en/jfk.flac", language="en")
    words = [w for s in result.segments for w in s.words]
    assert len(words) >= 20
    assert all(0 <= w.start <= w.end <= result.duration + 0.05 for w in words)
    assert all(a.start <= b.start for a, b in itertools.pairwise(words))
    # "country" closes the speech at ~10 s in the JFK clip.
    assert words[-1].word.lower().startswith("country") and words[-1].end > 9.0


def test_silence_has_no_speech_blocks(data_dir: Path) -> None:
    with decode_audio(data_dir / "audio/pyannote_debug/empty.wav") as audio:
        assert detect_speech(audio, vad_options(0.5, 500)) == []


def test_blocks_cut_at_silence_and_bound_length() -> None:
    from ml_controller.types import SpeechRegion

    regions = [SpeechRegion(start=s, end=s + 50) for s in range(0, 1000, 60)]
    blocks = plan_blocks(regions, max_block=300)
    assert all(b - a <= 300.6 for a, b in blocks)
    assert len(blocks) >= 4
    long = plan_blocks([SpeechRegion(start=0, end=1000)], max_block=300)
    assert len(long) == 4 and long[-1][1] == pytest.approx(1000.3)


def test_language_codes_are_checked() -> None:
    assert check_language("RU") == "ru"
    assert check_language(None) is None
    with pytest.raises(UnknownLanguageError, match="unknown language 'klingon'"):
        check_language("klingon")


def test_unknown_model_name_is_explained(tmp_path: Path) -> None:
    cache = CacheSettings(cache_dir=tmp_path)
    with pytest.raises(FileNotFoundError, match="MINUTA_ASR_MODEL"):
        resolve_model_dir(MLSettings(asr_model=str(tmp_path / "large-v3"), cache=cache))
