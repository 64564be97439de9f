"""WER and CER of a faster-whisper (CTranslate2) model on reference transcripts → a StageReport.

References are either a `references.jsonl` ({file, language, text}, files beside it) or an ASR
manifest ({audio, start, end, text, language}); the model is transcribed through the product's
own ASR path, so the figures are what `minuta process` would score.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path

import jiwer
from pydantic import BaseModel
from tqdm import tqdm

from ml_controller.asr.whisper import WhisperTranscriber
from ml_controller.audio.decode import decode_audio
from ml_controller.audio.vad import detect_speech, plan_blocks, vad_options
from ml_controller.metrics import normalize_text
from ml_controller.settings import MLSettings
from training.jsonl import iter_jsonl
from training.report import StageReport, now


class ASREvalConfig(BaseModel):
    # A packaged model name ("base") or a CTranslate2 Whisper directory.
    model: str = "base"
    references: Path
    output_dir: Path = Path("runs/asr_eval")
    # Overrides every reference's language; None uses theirs (or detects it when they have none).
    language: str | None = None
    compute_type: str = "int8"
    beam_size: int = 5
    threads: int = 2


@dataclass(frozen=True)
class EvalItem:
    audio: Path
    text: str
    language: str | None = None
    # A clip of the recording; None is the whole file.
    start: float | None = None
    end: float | None = None


@dataclass(frozen=True)
class ErrorRates:
    wer: float
    cer: float
    utterances: int
    reference_words: int


def transcription_timings(audio_seconds: float, asr_seconds: float) -> dict[str, float]:
    """How long transcription took against how much audio: the report's timings."""
    rtf = asr_seconds / audio_seconds if audio_seconds else 0.0
    return {
        "audio_seconds": round(audio_seconds, 2),
        "transcribe_seconds": round(asr_seconds, 2),
        "real_time_factor": round(rtf, 4),
    }


def read_references(path: Path) -> tuple[list[EvalItem], list[str]]:
    """Items to score and notes on lines left out (e.g. a per-channel reference)."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such references.jsonl or manifest")
    items: list[EvalItem] = []
    notes: list[str] = []
    for number, row in iter_jsonl(path):
        name = row.get("audio") or row.get("file")
        if not name:
            raise ValueError(f"{path}:{number}: needs an 'audio' or 'file' field")
        if not isinstance(row.get("text"), str):
            notes.append(f"{name}: left out, its reference is not one plain text")
            continue
        audio = Path(name).expanduser()
        items.append(
            EvalItem(
                audio=audio if audio.is_absolute() else path.parent / audio,
                text=row["text"],
                language=row.get("language"),
                start=row.get("start"),
                end=row.get("end"),
            )
        )
    return items, notes


def error_rates(references: list[str], hypotheses: list[str]) -> ErrorRates:
    """Corpus WER/CER after the product's normalisation; empty references are not scored."""
    pairs = [
        (normalize_text(r), normalize_text(h))
        for r, h in zip(references, hypotheses, strict=True)
        if normalize_text(r)
    ]
    if not pairs:
        raise ValueError("no non-empty reference text to score")
    refs = [r for r, _ in pairs]
    hyps = [h for _, h in pairs]
    return ErrorRates(
        wer=float(jiwer.wer(refs, hyps)),
        cer=float(jiwer.cer(refs, hyps)),
        utterances=len(refs),
        reference_words=sum(len(r.split()) for r in refs),
    )


def transcribe_item(
    transcriber: WhisperTranscriber, item: EvalItem, language: str | None
) -> tuple[str, float]:
    """The text Whisper hears in the item, and the item's audio length in seconds."""
    settings = transcriber.settings
    vad = vad_options(settings.vad_threshold, settings.vad_min_silence_ms)
    with decode_audio(item.audio, max_bytes=settings.max_input_bytes) as audio:
        if item.start is not None and item.end is not None:
            blocks = [(item.start, min(item.end, audio.duration))]
        else:
            blocks = plan_blocks(detect_speech(audio, vad), settings.asr_block_seconds)
        seconds = sum(b - a for a, b in blocks) if item.start is not None else audio.duration
        if not blocks:
            return "", seconds
        result = transcriber.transcribe(audio, blocks, vad, language=language)
    return " ".join(s.text.strip() for s in result.segments), seconds


def asr_settings(model: str, compute_type: str, beam_size: int, threads: int) -> MLSettings:
    return MLSettings(
        asr_model=model, asr_compute_type=compute_type, asr_beam_size=beam_size, threads=threads
    )


def run_asr_eval(config: ASREvalConfig) -> StageReport:
    started, began = now(), time.perf_counter()
    items, notes = read_references(config.references)
    transcriber = WhisperTranscriber(
        asr_settings(config.model, config.compute_type, config.beam_size, config.threads)
    )
    hypotheses: list[str] = []
    audio_seconds = 0.0
    asr_began = time.perf_counter()
    for item in tqdm(items, desc="asr eval", unit="clip"):
        text, seconds = transcribe_item(transcriber, item, config.language or item.language)
        hypotheses.append(text)
        audio_seconds += seconds
    asr_seconds = time.perf_counter() - asr_began

    overall = error_rates([i.text for i in items], hypotheses)
    metrics: dict[str, float | int | None] = {
        "wer": round(overall.wer, 4),
        "cer": round(overall.cer, 4),
        "utterances": overall.utterances,
        "reference_words": overall.reference_words,
    }
    for language in sorted({i.language for i in items if i.language}):
        subset = [
            (i.text, h) for i, h in zip(items, hypotheses, strict=True) if i.language == language
        ]
        rates = error_rates([r for r, _ in subset], [h for _, h in subset])
        metrics[f"wer_{language}"] = round(rates.wer, 4)
        metrics[f"cer_{language}"] = round(rates.cer, 4)
    out_dir = config.output_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    transcripts = out_dir / "transcripts.jsonl"
    with transcripts.open("w", encoding="utf-8") as sink:
        for item, hyp in zip(items, hypotheses, strict=True):
            row = {"audio": str(item.audio), "reference": item.text, "hypothesis": hyp}
            sink.write(json.dumps(row, ensure_ascii=False) + "\n")
    return StageReport(
        started=started,
        stage="asr-eval",
        seconds=round(time.perf_counter() - began, 2),
        metrics=metrics,
        timings=transcription_timings(audio_seconds, asr_seconds),
        artifacts={"model": str(transcriber.model_dir), "transcripts": str(transcripts)},
        notes=notes,
    )
