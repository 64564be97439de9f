"""Local transformers Whisper checkpoints: tokenizer, feature extractor, generation settings.

No hub: everything is read from a directory. A checkpoint may carry only `tokenizer.json` (as the
packaged CTranslate2 Whisper does); the tokenizer is then built from it with Whisper's specials.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from transformers import (
    GenerationConfig,
    WhisperConfig,
    WhisperFeatureExtractor,
    WhisperForConditionalGeneration,
    WhisperTokenizer,
)
from transformers.models.whisper.tokenization_whisper import LANGUAGES

_EOT = "<|endoftext|>"


def load_tokenizer(model_dir: Path) -> WhisperTokenizer:
    if (model_dir / "tokenizer_config.json").is_file():
        tokenizer: WhisperTokenizer = WhisperTokenizer.from_pretrained(
            str(model_dir), local_files_only=True
        )
        return tokenizer
    tokenizer_file = model_dir / "tokenizer.json"
    if not tokenizer_file.is_file():
        raise FileNotFoundError(
            f"{model_dir}: no tokenizer.json; a Whisper checkpoint needs its tokenizer beside it"
        )
    return WhisperTokenizer(
        tokenizer_file=str(tokenizer_file),
        bos_token=_EOT,
        eos_token=_EOT,
        unk_token=_EOT,
        pad_token=_EOT,
    )


def load_feature_extractor(model_dir: Path, num_mel_bins: int = 80) -> WhisperFeatureExtractor:
    if (model_dir / "preprocessor_config.json").is_file():
        extractor: WhisperFeatureExtractor = WhisperFeatureExtractor.from_pretrained(
            str(model_dir), local_files_only=True
        )
        return extractor
    return WhisperFeatureExtractor(feature_size=num_mel_bins)


def language_ids(tokenizer: WhisperTokenizer) -> dict[str, int]:
    """`<|xx|>` → id for every Whisper language the tokenizer has."""
    vocab = tokenizer.get_vocab()
    return {f"<|{code}|>": vocab[f"<|{code}|>"] for code in LANGUAGES if f"<|{code}|>" in vocab}


def generation_config(
    tokenizer: WhisperTokenizer,
    config: WhisperConfig,
    suppress_tokens: list[int] | None = None,
    begin_suppress_tokens: list[int] | None = None,
    alignment_heads: list[list[int]] | None = None,
) -> GenerationConfig:
    """What transformers' Whisper `generate` and the CTranslate2 converter read."""
    vocab = tokenizer.get_vocab()
    eot = vocab[_EOT]
    heads = alignment_heads or [
        [layer, head]
        for layer in range(config.decoder_layers // 2, config.decoder_layers)
        for head in range(config.decoder_attention_heads)
    ]
    return GenerationConfig(
        decoder_start_token_id=vocab["<|startoftranscript|>"],
        bos_token_id=eot,
        eos_token_id=eot,
        pad_token_id=eot,
        max_length=config.max_target_positions,
        no_timestamps_token_id=vocab["<|notimestamps|>"],
        is_multilingual=True,
        lang_to_id=language_ids(tokenizer),
        task_to_id={"transcribe": vocab["<|transcribe|>"], "translate": vocab["<|translate|>"]},
        suppress_tokens=list(suppress_tokens or []),
        begin_suppress_tokens=list(begin_suppress_tokens or [vocab["Ġ"], eot]),
        alignment_heads=heads,
    )


def read_ct2_generation_fields(ct2_dir: Path) -> dict[str, Any]:
    """Suppressed tokens and alignment heads from a CTranslate2 Whisper's config.json."""
    data = json.loads((ct2_dir / "config.json").read_text(encoding="utf-8"))
    return {
        "suppress_tokens": data.get("suppress_ids") or [],
        "begin_suppress_tokens": data.get("suppress_ids_begin") or [],
        "alignment_heads": data.get("alignment_heads"),
    }


def save_checkpoint(
    model: WhisperForConditionalGeneration,
    tokenizer: WhisperTokenizer,
    features: WhisperFeatureExtractor,
    out_dir: Path,
) -> Path:
    """Model, tokenizer and preprocessor in one directory, as the converter expects them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out_dir))
    tokenizer.save_pretrained(str(out_dir))
    features.save_pretrained(str(out_dir))
    return out_dir


def build_tiny_whisper(
    tokenizer_dir: Path,
    out_dir: Path,
    d_model: int = 64,
    layers: int = 2,
    heads: int = 4,
    seed: int = 0,
    ct2_reference: Path | None = None,
) -> Path:
    """A randomly initialised small Whisper with a real tokenizer, for tests and smoke runs.

    Vocabulary and positions keep Whisper's real sizes so the result converts and loads in
    faster-whisper exactly like a full model does.
    """
    torch.manual_seed(seed)
    tokenizer = load_tokenizer(tokenizer_dir)
    vocab = tokenizer.get_vocab()
    eot = vocab[_EOT]
    config = WhisperConfig(
        vocab_size=51865,
        num_mel_bins=80,
        d_model=d_model,
        encoder_layers=layers,
        decoder_layers=layers,
        encoder_attention_heads=heads,
        decoder_attention_heads=heads,
        encoder_ffn_dim=4 * d_model,
        decoder_ffn_dim=4 * d_model,
        max_source_positions=1500,
        max_target_positions=448,
        decoder_start_token_id=vocab["<|startoftranscript|>"],
        pad_token_id=eot,
        bos_token_id=eot,
        eos_token_id=eot,
    )
    model = WhisperForConditionalGeneration(config)
    fields = read_ct2_generation_fields(ct2_reference) if ct2_reference else {}
    fields["alignment_heads"] = None  # the reference's heads do not exist in a tiny model
    model.generation_config = generation_config(tokenizer, config, **fields)
    return save_checkpoint(model, tokenizer, WhisperFeatureExtractor(feature_size=80), out_dir)
