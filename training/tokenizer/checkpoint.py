"""Write the merged tokenizer and the embedding-extended model as directories transformers loads."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Literal

from tokenizers import Tokenizer

from training.base_models import load_causal_lm
from training.tokenizer.embeddings import ExtendResult, extend_embeddings

# Tokenizer side files that stay valid because every base token keeps its id.
_TOKENIZER_FILES = (
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "generation_config.json",
)
Dtype = Literal["float32", "bfloat16", "float16"]


def save_tokenizer(merged: Tokenizer, base_dir: Path, out_dir: Path) -> Path:
    """`out_dir` with the merged tokenizer.json and the base's tokenizer settings."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in _TOKENIZER_FILES:
        if (base_dir / name).is_file():
            shutil.copy2(base_dir / name, out_dir / name)
    # Slow-tokenizer files would describe the base vocabulary, not the merged one.
    for stale in ("vocab.json", "merges.txt"):
        (out_dir / stale).unlink(missing_ok=True)
    merged.save(str(out_dir / "tokenizer.json"))
    return out_dir


def extend_checkpoint(
    base_dir: Path, tokenizer_dir: Path, out_dir: Path, dtype: Dtype = "float32"
) -> ExtendResult:
    """Loads the base model, extends its embeddings for the merged tokenizer, saves both."""
    from transformers import AutoTokenizer

    base_tokenizer = AutoTokenizer.from_pretrained(base_dir, local_files_only=True)
    merged_tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir, local_files_only=True)
    model = load_causal_lm(base_dir, dtype=dtype)
    result = extend_embeddings(model, base_tokenizer, merged_tokenizer)
    model.save_pretrained(out_dir, safe_serialization=True)
    merged_tokenizer.save_pretrained(out_dir)
    return result
