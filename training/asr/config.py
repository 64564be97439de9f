"""Settings of the two ASR stages: `asr-data` (pseudo-labels → manifest) and `asr-train`."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, field_validator


def _expand(value: object) -> object:
    if isinstance(value, Path):
        return value.expanduser()
    if isinstance(value, list):
        return [_expand(v) for v in value]
    return value


class ASRDataConfig(BaseModel):
    """Pseudo-label recordings with Whisper and flag doubtful words for a person to check."""

    # Audio files and/or folders (searched recursively for audio files).
    inputs: list[Path]
    output_dir: Path = Path("runs/asr_data")
    # A packaged model name ("base") or a CTranslate2 Whisper directory.
    model: str = "base"
    # A Whisper language code; None detects it per recording (or takes it from `references`).
    language: str | None = None
    # references.jsonl files ({file, language, text}) beside the audio: the pseudo-labels' WER
    # against them is measured, and their languages are used when `language` is None.
    references: list[Path] = Field(default_factory=list)
    compute_type: str = "int8"
    beam_size: int = 5
    threads: int = 2
    # Consecutive Whisper segments are merged into training clips up to this length
    # (Whisper sees at most 30 s at once).
    max_clip_seconds: float = Field(default=28.0, gt=0, le=30)
    # Dictionary: the N most frequent words of the language plus a glossary of domain terms.
    lexicon_size: int = Field(default=100_000, ge=0)
    glossary: Path | None = None
    # A word not in the dictionary is flagged when an entry is at most this many edits away
    # (one edit for words of up to `short_word_length` letters, since short words collide).
    max_edits: int = Field(default=2, ge=0)
    short_word_length: int = 5
    min_word_length: int = 3
    # Whisper's word probability below this flags the word too (None turns that off).
    min_word_probability: float | None = Field(default=0.4, ge=0, le=1)
    # Unknown words with no close entry (new names) are flagged only when this is set.
    flag_unknown_without_suggestions: bool = False
    max_suggestions: int = Field(default=3, ge=1)

    _expand_paths = field_validator("inputs", "output_dir", "references", "glossary")(_expand)


class ASRTrainConfig(BaseModel):
    """Fine-tune a transformers Whisper on a manifest and convert it for faster-whisper."""

    # A local transformers Whisper checkpoint (config.json, model.safetensors, tokenizer.json,
    # preprocessor_config.json), or a CTranslate2 Whisper directory (model.bin), or "base" for
    # the packaged Whisper base; CTranslate2 weights are converted back to transformers first.
    base_model: Path
    manifest: Path
    output_dir: Path = Path("runs/asr_train")
    # A reviewed copy of the manifest (rows matched by audio, start and end replace the
    # pseudo-labels) and/or a JSON or YAML file of word corrections {"ЭТМО": "ИТМО"}.
    reviewed_manifest: Path | None = None
    corrections: Path | None = None
    # Rows still marked needs_review after the review are left out unless this is set.
    include_unreviewed: bool = False
    # None takes each row's language.
    language: str | None = None
    task: Literal["transcribe", "translate"] = "transcribe"
    max_steps: int = Field(default=100, ge=1)
    batch_size: int = Field(default=4, ge=1)
    grad_accum: int = Field(default=1, ge=1)
    learning_rate: float = Field(default=1e-5, gt=0)
    warmup_steps: int = Field(default=0, ge=0)
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    # A small data set overfits a large decoder quickly; freezing the encoder is the usual remedy.
    freeze_encoder: bool = False
    gradient_checkpointing: bool = False
    device: Literal["cpu", "cuda", "auto"] = "cpu"
    dtype: Literal["float32", "bfloat16", "float16"] = "float32"
    threads: int = 2
    seed: int = 0
    # Label tokens beyond this are cut (Whisper's decoder holds 448 positions).
    max_label_tokens: int = Field(default=440, ge=8, le=448)
    # CTranslate2 conversion of the result for faster-whisper; None skips it.
    ct2_quantization: Literal["int8", "int8_float16", "float16", "bfloat16", "float32"] | None = (
        "int8"
    )
    convert: bool = True
    # WER of the converted model on these references (references.jsonl or a manifest).
    eval_references: Path | None = None
    eval_language: str | None = None

    _expand_paths = field_validator(
        "base_model",
        "manifest",
        "output_dir",
        "reviewed_manifest",
        "corrections",
        "eval_references",
    )(_expand)
