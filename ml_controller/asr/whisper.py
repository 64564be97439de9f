"""Speech recognition with faster-whisper: packaged Whisper base on the CPU by default.

A GPU deployment is one setting away: MINUTA_ASR_MODEL=/models/whisper-large-v3-ct2,
MINUTA_ASR_DEVICE=cuda, MINUTA_ASR_COMPUTE_TYPE=float16.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ctranslate2
from faster_whisper import WhisperModel
from faster_whisper.tokenizer import _LANGUAGE_CODES
from faster_whisper.vad import VadOptions

from core.results import Word
from ml_controller.audio.decode import DecodedAudio
from ml_controller.models.registry import WHISPER_BASE, assemble
from ml_controller.settings import MLSettings
from ml_controller.types import AsrSegment, Transcription

SUPPORTED_LANGUAGES: frozenset[str] = frozenset(_LANGUAGE_CODES)
_PACKAGED = {"base": WHISPER_BASE}


class UnknownLanguageError(ValueError):
    pass


def check_language(language: str | None) -> str | None:
    if language is None:
        return None
    code = language.strip().lower()
    if code not in SUPPORTED_LANGUAGES:
        raise UnknownLanguageError(
            f"unknown language {language!r}: give a Whisper language code such as 'en' or 'ru' "
            "or leave it out to detect the language"
        )
    return code


def resolve_model_dir(settings: MLSettings) -> Path:
    """A packaged model name ('base') or a local CTranslate2 model directory."""
    name = settings.asr_model
    if name in _PACKAGED:
        return assemble(_PACKAGED[name], settings.cache_dir)
    path = Path(name).expanduser()
    if (path / "model.bin").is_file():
        return path
    raise FileNotFoundError(
        f"ASR model {name!r}: not a packaged model ({', '.join(_PACKAGED)}) and not a "
        "directory with a CTranslate2 model.bin; set MINUTA_ASR_MODEL to one of them"
    )


class WhisperTranscriber:
    def __init__(self, settings: MLSettings) -> None:
        self.settings = settings
        self.model_dir = resolve_model_dir(settings)
        self.model = WhisperModel(
            str(self.model_dir),
            device=settings.asr_device,
            compute_type=settings.asr_compute_type,
            cpu_threads=settings.threads,
            local_files_only=True,
        )

    def transcribe(
        self,
        audio: DecodedAudio,
        blocks: list[tuple[float, float]],
        vad: VadOptions,
        language: str | None = None,
        on_progress: Callable[[float], None] | None = None,
    ) -> Transcription:
        """Transcribe the speech blocks of `audio`; the language is detected on the first block."""
        language = check_language(language)
        probability = 1.0 if language else 0.0
        segments: list[AsrSegment] = []
        done = 0.0
        for start, end in blocks:
            block = audio.block(start, end)
            ctranslate2.set_random_seed(self.settings.seed)
            pieces, info = self.model.transcribe(
                block,
                language=language,
                beam_size=self.settings.asr_beam_size,
                word_timestamps=True,
                vad_filter=True,
                vad_parameters=vad,
                # Conditioning across long blocks lets one hallucination repeat for minutes.
                condition_on_previous_text=False,
            )
            if language is None:
                language, probability = info.language, info.language_probability
            for piece in pieces:
                words = [
                    Word(
                        start=round(start + w.start, 3),
                        end=round(start + w.end, 3),
                        word=w.word.strip(),
                        probability=round(w.probability, 4),
                    )
                    for w in piece.words or []
                    if w.word.strip()
                ]
                text = piece.text.strip()
                if not text:
                    continue
                segments.append(
                    AsrSegment(
                        start=round(start + piece.start, 3),
                        end=round(start + piece.end, 3),
                        text=text,
                        words=words,
                    )
                )
            done += end - start
            if on_progress is not None:
                on_progress(done)
        return Transcription(
            language=language or "en",
            language_probability=probability,
            duration=audio.duration,
            segments=segments,
        )
